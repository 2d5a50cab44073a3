"""A real `smemu serve` process on a free port, for tests (nothing pytest-specific in here)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

TOY_IMAGE = "smemu-toy-trainer:latest"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EndpointProcess:
    """Context manager around `python -m emulator serve`."""

    def __init__(self, state_dir: Path, *extra_args: str) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.server_id = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "serve.log"

    def __enter__(self) -> EndpointProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SMEMU_STATE_DIR": str(self.state_dir)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve", "--port", str(self.port),
             *self.extra_args],
            stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_smemu/health", timeout=1) as r:
                    self.server_id = json.loads(r.read())["server_id"]
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"endpoint did not start:\n{self.log_path.read_text()}")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 2}), **CREDENTIALS)

    def report(self, job_name: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_smemu/jobs/{job_name}", timeout=10) as r:
            return dict(json.loads(r.read()))


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
    bucket, _, key = uri[len("s3://"):].partition("/")
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                out[member.name] = extracted.read()
    return out


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
