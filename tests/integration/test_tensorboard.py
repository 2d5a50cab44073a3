"""TensorBoardOutputConfig: LocalPath is mirrored to S3OutputPath while the job runs, by the
checkpoints' engine (real Docker, the real endpoint)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker

# Writes one event file, then a second one (in a subdirectory) a second later, and trains on
# until SIGTERM (a trap: sh as PID 1 would ignore it otherwise).
WRITER = ("trap 'exit 0' TERM; mkdir -p \"$TB/run1\"; echo one > \"$TB/events.out.1\"; "
          "sleep 1; echo two > \"$TB/run1/events.out.2\"; rm \"$TB/events.out.1\"; "
          "while true; do sleep 0.2; done")


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"][len(prefix):] for o in listed.get("Contents", []))


@pytest.mark.parametrize("local_path", [None, "/tb/logs"])
def test_tensorboard_files_reach_s3_while_the_job_runs(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str,
        local_path: str | None) -> None:
    request = toy_request(job_name, spot=False, checkpoint_uri=None, bucket=bucket)
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sh", "-c", WRITER]}
    prefix = f"tensorboard/{job_name}/"
    config: dict[str, str] = {"S3OutputPath": f"s3://{bucket}/{prefix}"}
    if local_path:
        config["LocalPath"] = local_path
    request["TensorBoardOutputConfig"] = config
    request["Environment"] = {"TB": local_path or "/opt/ml/output/tensorboard"}
    sagemaker.create_training_job(**request)

    deadline = time.monotonic() + 120
    seen: list[str] = []
    while time.monotonic() < deadline and seen != ["run1/events.out.2"]:
        job = sagemaker.describe_training_job(TrainingJobName=job_name)
        assert job["TrainingJobStatus"] == "InProgress", job.get("FailureReason")
        seen = keys(s3, bucket, prefix)
        time.sleep(0.2)
    # Mirrored as it changes, relative keys kept: the first file came and went (deleted
    # locally, deleted in S3), the second is there while the container still trains.
    assert seen == ["run1/events.out.2"]
    body = s3.get_object(Bucket=bucket, Key=prefix + "run1/events.out.2")["Body"].read()
    assert body == b"two\n"
    assert sagemaker.describe_training_job(TrainingJobName=job_name)["SecondaryStatus"] == \
        "Training"
    sagemaker.stop_training_job(TrainingJobName=job_name)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["TensorBoardOutputConfig"] == config  # echoed back, as before
    assert keys(s3, bucket, prefix) == ["run1/events.out.2"]
