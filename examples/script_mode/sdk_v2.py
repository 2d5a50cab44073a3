"""Script mode with the SageMaker Python SDK v2: a framework estimator, `entry_point` +
`source_dir`, managed spot with checkpoints, one spot interruption, against a smemu endpoint.

    python examples/script_mode/sdk_v2.py [--endpoint-url http://127.0.0.1:4590]

The SDK tars src/ into sourcedir.tar.gz, uploads it to the endpoint's S3 and names it in the
`sagemaker_submit_directory` hyperparameter; the sagemaker-training toolkit in the image
downloads it and runs `python train.py --epochs ...`. The image (`image_uri`, so no framework
version is looked up) is smemu-script-mode: the toolkit, and an empty /opt/ml/code for it to
fill, as in SageMaker's framework images. The interruption comes from the
`smemu:interrupt` tag, which AWS would ignore: the same code runs unchanged on SageMaker.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

SOURCE_DIR = Path(__file__).resolve().parent / "src"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def session(endpoint_url: str, bucket: str) -> Any:
    import boto3
    import sagemaker

    os.environ.update(AWS_ENDPOINT_URL=endpoint_url, AWS_ACCESS_KEY_ID="test",
                      AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    boto_session = boto3.Session(region_name="us-east-1")
    boto_session.client("s3").create_bucket(Bucket=bucket)  # an existing one answers 200 too
    return sagemaker.Session(
        boto_session=boto_session,
        default_bucket=bucket,  # else the SDK asks STS at a hard-coded AWS address
        sagemaker_config={"SchemaVersion": "1.0",  # else it sends telemetry to AWS
                          "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}})


def estimator(sagemaker_session: Any, image: str, bucket: str, job: str, epochs: int,
              interrupt: str) -> Any:
    from sagemaker.pytorch import PyTorch

    return PyTorch(
        entry_point="train.py", source_dir=str(SOURCE_DIR), image_uri=image,
        role=ROLE, instance_count=1, instance_type="ml.m5.large",
        sagemaker_session=sagemaker_session,
        use_spot_instances=True, max_run=600, max_wait=900,
        checkpoint_s3_uri=f"s3://{bucket}/checkpoints/{job}",
        hyperparameters={"epochs": epochs, "lr": 0.1, "seconds_per_epoch": 0.5},
        metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
        # The toolkit lets SIGTERM go unanswered: a short grace keeps the SIGKILL near.
        tags=[{"Key": "smemu:interrupt", "Value": interrupt},
              {"Key": "smemu:grace-period", "Value": "1s"}],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:4590")
    parser.add_argument("--bucket", default="script-mode")
    parser.add_argument("--image", default="smemu-script-mode:latest")
    parser.add_argument("--job-name", default="script-mode-sdk-v2")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--interrupt", default="checkpoint=3",
                        help="the smemu:interrupt tag's plan")
    args = parser.parse_args(argv)
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    sagemaker_session = session(args.endpoint_url, args.bucket)
    trainer = estimator(sagemaker_session, args.image, args.bucket, args.job_name, args.epochs,
                        args.interrupt)
    trainer.fit(job_name=args.job_name, logs="None")  # waits; logs: `smemu jobs logs JOB`
    job = trainer.latest_training_job.describe()
    transitions = " -> ".join(t["Status"] for t in job["SecondaryStatusTransitions"])
    print(f"{args.job_name}: {job['TrainingJobStatus']} ({transitions})")
    print(f"model: {trainer.model_data}")
    return 0 if job["TrainingJobStatus"] == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
