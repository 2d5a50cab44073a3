"""Request builders and waits the tests share, over the `emulator.testing` endpoint (nothing
pytest-specific in here)."""

from __future__ import annotations

import json
import re
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
            raise AssertionError(f"{name} ended {job['SecondaryStatus']} before {secondary}: "
                                 f"{job.get('FailureReason', '')}")
        time.sleep(0.2)
    raise TimeoutError(f"{name} never reached {secondary}")


def read_model_tar(s3: Any, uri: str) -> dict[str, bytes]:
    return read_tar_gz(s3, uri)


def toy_attempt(s3: Any, job: dict[str, Any]) -> dict[str, Any]:
    """The toy trainer's bookkeeping of its last attempt (resumed_from, steps_run_this_attempt):
    attempt.json of output.tar.gz, beside model.tar.gz."""
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    files = read_tar_gz(s3, model_uri.rsplit("/", 1)[0] + "/output.tar.gz")
    return dict(json.loads(files["attempt.json"]))


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


SLEEPER_MODEL = {"sleeper.txt": b"written before the sleep\n"}


def sleeper_request(name: str, bucket: str, **tags: str) -> dict[str, Any]:
    """A spot job whose container writes SLEEPER_MODEL into /opt/ml/model, then ignores SIGTERM
    (`sleep` as PID 1)."""
    request = toy_request(name, checkpoint_uri=None, bucket=bucket,
                          tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    script = "echo 'written before the sleep' > /opt/ml/model/sleeper.txt && exec sleep 1000"
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sh", "-c", script]}
    return request


def job_log(endpoint: EndpointProcess, name: str) -> list[str]:
    """Every line the job's containers printed (CloudWatch Logs, all streams, in order)."""
    logs = endpoint.client("logs")
    try:
        streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                            logStreamNamePrefix=f"{name}/")["logStreams"]
    except logs.exceptions.ResourceNotFoundException:  # no job has logged a line yet
        return []
    lines: list[str] = []
    for stream in sorted(streams, key=lambda s: s["logStreamName"]):
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                     logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        lines += [e["message"] for e in events]
    return lines


def wait_for_log(endpoint: EndpointProcess, name: str, pattern: str,
                 timeout: float = 120) -> None:
    """Until a line of the job's log matches `pattern` (e.g. the trainer's SIGTERM handler is
    in place: a SIGTERM before it is lost, PID 1 ignores signals it has no handler for)."""
    deadline = time.monotonic() + timeout
    while not any(re.search(pattern, line) for line in job_log(endpoint, name)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no log line of {name} matched {pattern!r} in {timeout}s")
        time.sleep(0.3)


def sigterm_step(lines: list[str]) -> int:
    """The step at which the toy trainer says SIGTERM stopped it."""
    for line in lines:
        match = re.match(r"SIGTERM received: checkpoint saved at step (\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("the trainer never got SIGTERM:\n" + "\n".join(lines))


def interrupt_job(endpoint: EndpointProcess, name: str) -> tuple[int, str]:
    """POST /_smemu/jobs/NAME/interrupt; returns (HTTP status, body)."""
    request = urllib.request.Request(f"{endpoint.url}/_smemu/jobs/{name}/interrupt",
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def quick_toy_request(name: str, bucket: str, steps: int = 4, **extra: Any) -> dict[str, Any]:
    """An on-demand toy job of a few quick steps; `extra` top-level request members."""
    request = toy_request(name, steps=steps, spot=False, checkpoint_uri=None, bucket=bucket,
                          seconds_per_step="0.05")
    request.update(extra)
    return request
