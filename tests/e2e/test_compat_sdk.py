"""The SageMaker Python SDK v2 `Estimator`, unchanged, against the endpoint (not its local mode).

What a user sets: AWS_ENDPOINT_URL (every boto3 client the SDK builds, SageMaker, S3 and
CloudWatch Logs, then reaches the endpoint), dummy credentials, and `default_bucket` (the SDK
asks STS for the account at a hard-coded AWS URL otherwise). TelemetryOptOut keeps the SDK from
sending its telemetry to AWS.
"""

from __future__ import annotations

import time
import types
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess, toy_value

pytestmark = pytest.mark.docker

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SDK_CONFIG = {"SchemaVersion": "1.0",
              "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


@pytest.fixture()
def sdk_session(endpoint: EndpointProcess, monkeypatch: pytest.MonkeyPatch, bucket: str) -> Any:
    import boto3
    import sagemaker  # a declared test dependency: a broken install fails here, never skips

    for key, value in {"AWS_ENDPOINT_URL": endpoint.url, "AWS_ACCESS_KEY_ID": "test",
                       "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                       "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Only to keep the suite fast: the SDK polls every 10 s (logs) and 5 s (wait) by default.
    session_class = sagemaker.session.Session
    monkeypatch.setattr(session_class.logs_for_job, "__defaults__", (False, 1, "All", None))
    monkeypatch.setattr(session_class.wait_for_job, "__defaults__", (1,))
    # ...and the log tailer describes the job only every 30 s of time.time(): its clock runs x30.
    fast_time = types.ModuleType("time")
    fast_time.__dict__.update(vars(time))
    fast_time.time = lambda: time.monotonic() * 30  # type: ignore[attr-defined]
    monkeypatch.setattr(sagemaker.session, "time", fast_time)
    boto_session = boto3.Session(region_name="us-east-1")
    return sagemaker.Session(boto_session=boto_session, default_bucket=bucket,
                             sagemaker_config=SDK_CONFIG)


def test_estimator_spot_checkpoints_fit_with_logs(sdk_session: Any, sagemaker: Any, s3: Any,
                                                  bucket: str, job_name: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from sagemaker.estimator import Estimator

    assert sdk_session.default_bucket() == bucket
    checkpoints = f"s3://{bucket}/checkpoints/{job_name}"
    estimator = Estimator(
        image_uri=TOY_IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.large",
        sagemaker_session=sdk_session, use_spot_instances=True, max_run=600, max_wait=900,
        checkpoint_s3_uri=checkpoints, output_path=f"s3://{bucket}/output",
        hyperparameters={"total_steps": "12", "seconds_per_step": "0.05",
                         "checkpoint_interval": "4"},
        metric_definitions=[{"Name": "value", "Regex": r"value=(\d+)"}],
        tags=[{"Key": "smemu:interrupt", "Value": "after=0.4s"}],
    )
    estimator.fit(job_name=job_name, logs=True)
    out = capsys.readouterr().out

    assert "Managed Spot Training savings:" in out, out
    assert "Interrupted - " in out and "Completed - Training job completed" in out
    assert "training complete: step 12" in out  # the container's own output, via Logs
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    assert job["TrainingJobStatus"] == "Completed"
    assert job["EnableManagedSpotTraining"] is True
    assert job["CheckpointConfig"]["S3Uri"] == checkpoints
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 900}
    assert job["FinalMetricDataList"][0]["Value"] == float(toy_value(12))
    assert estimator.model_data == job["ModelArtifacts"]["S3ModelArtifacts"]
    key = estimator.model_data.split("/", 3)[3]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"checkpoints/{job_name}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"checkpoints/{job_name}/checkpoint.json"]

    attached = Estimator.attach(job_name, sagemaker_session=sdk_session)
    assert attached.model_data == estimator.model_data
    assert attached.use_spot_instances and attached.max_wait == 900


def test_estimator_failure_with_input_channel(sdk_session: Any, bucket: str,
                                             job_name: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from sagemaker.estimator import Estimator
    from sagemaker.exceptions import UnexpectedStatusException
    from sagemaker.inputs import TrainingInput

    data = sdk_session.upload_string_as_file_body("1,2,3", bucket, "data/train/part-0.csv")
    estimator = Estimator(image_uri=TOY_IMAGE, role=ROLE, instance_count=1,
                          instance_type="ml.m5.large", sagemaker_session=sdk_session,
                          output_path=f"s3://{bucket}/output", environment={"MODE": "test"},
                          max_retry_attempts=1, disable_profiler=True,
                          hyperparameters={"total_steps": "3", "seconds_per_step": "0.05",
                                           "fail_at_step": "2"})
    with pytest.raises(UnexpectedStatusException,
                       match="Reason: AlgorithmError: simulated failure at step 2"):
        estimator.fit(inputs={"train": TrainingInput(data.rsplit("/", 1)[0])},
                      job_name=job_name, logs="All")
    assert "AlgorithmError: simulated failure at step 2" in capsys.readouterr().out

    description = sdk_session.describe_training_job(job_name)
    assert description["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"s3://{bucket}/data/train")
    assert description["Environment"] == {"MODE": "test"}
    assert description["RetryStrategy"] == {"MaximumRetryAttempts": 1}
