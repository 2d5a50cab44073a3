"""Script mode with the SageMaker Python SDK v3: `ModelTrainer` with `SourceCode(source_dir,
entry_script)`, `Compute(enable_managed_spot_training=True)`, a CheckpointConfig and one spot
interruption, against a smemu endpoint.

    SDK3_PYTHON examples/script_mode/sdk_v3.py [--endpoint-url http://127.0.0.1:4590]

SDK v3 and v2 are both the `sagemaker` package: run this with a Python that has v3
(`pip install sagemaker>=3`; `make sdk-v3` builds one under build/). With SourceCode the SDK
uploads src/ and its own drivers (the `sm_drivers` channel) and runs `/bin/bash` as the
container's entry point, which installs nothing unless there is a requirements.txt and runs
`python train.py` with the hyperparameters as arguments: the image needs bash, python3 and pip,
as smemu-script-mode has. The interruption comes from the `smemu:interrupt` tag, which AWS
ignores: the same code runs on SageMaker.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent / "src"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:4590")
    parser.add_argument("--bucket", default="script-mode")
    parser.add_argument("--image", default="smemu-script-mode:latest")
    parser.add_argument("--base-job-name", default="script-mode-sdk-v3")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--interrupt", default="checkpoint=3",
                        help="the smemu:interrupt tag's plan")
    args = parser.parse_args(argv)
    os.environ.update(AWS_ENDPOINT_URL=args.endpoint_url, AWS_ACCESS_KEY_ID="test",
                      AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")

    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.training.configs import (
        CheckpointConfig,
        Compute,
        OutputDataConfig,
        SourceCode,
        StoppingCondition,
        Tag,
    )
    from sagemaker.train import ModelTrainer

    boto_session = boto3.Session(region_name="us-east-1")
    boto_session.client("s3").create_bucket(Bucket=args.bucket)  # an existing one answers 200
    trainer = ModelTrainer(
        training_image=args.image,
        base_job_name=args.base_job_name,
        # default_bucket: where SourceCode goes (else the SDK asks STS for the account).
        sagemaker_session=Session(boto_session=boto_session, default_bucket=args.bucket),
        source_code=SourceCode(source_dir=str(SOURCE_DIR), entry_script="train.py"),
        compute=Compute(instance_type="ml.m5.large", instance_count=1,
                        enable_managed_spot_training=True),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=600,
                                             max_wait_time_in_seconds=900),
        checkpoint_config=CheckpointConfig(
            s3_uri=f"s3://{args.bucket}/checkpoints/{args.base_job_name}"),
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{args.bucket}/output"),
        hyperparameters={"epochs": args.epochs, "lr": 0.1, "seconds_per_epoch": 0.5},
        # bash as PID 1 drops SIGTERM, as the toolkit does: a short grace keeps SIGKILL near.
        tags=[Tag(key="smemu:interrupt", value=args.interrupt),
              Tag(key="smemu:grace-period", value="1s")],
    )
    trainer.train(logs=False)  # waits for the end
    job = trainer._latest_training_job  # the SDK's own handle on the job it created
    job.refresh()
    transitions = " -> ".join(t.status for t in job.secondary_status_transitions or ())
    print(f"{job.training_job_name}: {job.training_job_status} ({transitions})")
    return 0 if job.training_job_status == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
