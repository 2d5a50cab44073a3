"""Request builders and waits the tests share, over the `emulator.testing` endpoint (nothing
pytest-specific in here)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from emulator.testing import Endpoint, read_tar_gz

TOY_IMAGE = "smemu-toy-trainer:latest"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EndpointProcess(Endpoint):
    """`smemu serve` in a child process (`emulator.testing.Endpoint`), with the tests' older
    call shape: positional serve flags, a state directory the caller owns."""

    def __init__(self, state_dir: Path, *serve_args: str) -> None:
        super().__init__(state_dir=state_dir, serve_args=serve_args)

    @property
    def state_dir(self) -> Path:
        assert self.requested_state_dir is not None
        return self.requested_state_dir

    def client(self, service: str, **config: Any) -> Any:
        """Quick to give up: a test waits on its own deadline."""
        return super().client(service, **{"retries": {"max_attempts": 2}, **config})


def wait_for_job(sagemaker: Any, name: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sagemaker.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return dict(job)
        time.sleep(0.3)
    raise TimeoutError(f"job {name} did not finish in {timeout}s")


def wait_for_status(sagemaker: Any, name: str, secondary: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sagemaker.describe_training_job(TrainingJobName=name)
        if job["SecondaryStatus"] == secondary:
            return
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            raise AssertionError(f"{name} ended {job['SecondaryStatus']} before {secondary}")
        time.sleep(0.2)
    raise TimeoutError(f"{name} never reached {secondary}")


def read_model_tar(s3: Any, uri: str) -> dict[str, bytes]:
    return read_tar_gz(s3, uri)


def toy_value(total_steps: int) -> int:
    """What the toy trainer computes without interruption (its own formula, recomputed)."""
    value = 0
    for step in range(1, total_steps + 1):
        value = (value * 31 + step) % 1000000007
    return value


def toy_request(name: str, *, steps: int = 30, spot: bool = True, checkpoint_uri: str | None,
                bucket: str, tags: list[dict[str, str]] | None = None,
                **hyperparameters: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": TOY_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "HyperParameters": {"total_steps": str(steps), "checkpoint_interval": "5",
                            "seconds_per_step": "0.1", **hyperparameters},
    }
    if spot:
        request["EnableManagedSpotTraining"] = True
        request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 900
    if checkpoint_uri:
        request["CheckpointConfig"] = {"S3Uri": checkpoint_uri}
    if tags:
        request["Tags"] = tags
    return request


def sleeper_request(name: str, bucket: str, **tags: str) -> dict[str, Any]:
    """A spot job whose container ignores SIGTERM (`sleep` as PID 1)."""
    request = toy_request(name, checkpoint_uri=None, bucket=bucket,
                          tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sleep", "1000"]}
    return request


def interrupt_job(endpoint: EndpointProcess, name: str) -> tuple[int, str]:
    """POST /_smemu/jobs/NAME/interrupt; returns (HTTP status, body)."""
    request = urllib.request.Request(f"{endpoint.url}/_smemu/jobs/{name}/interrupt",
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
