"""What the end-to-end benchmark drives: an endpoint process, its jobs, Docker's own clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import docker
from botocore.config import Config

from bench.servers import Server, SmemuServer, free_port

TOY = "smemu-toy-trainer:latest"
BASE = "smemu-base:latest"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "benchsecret",
               "region_name": "us-east-1"}
TRIVIAL = {"total_steps": "1", "seconds_per_step": "0"}
TERMINAL = ("Completed", "Failed", "Stopped")


class Endpoint(SmemuServer):
    """`python -m emulator serve` with the S3 backend asked for."""

    def __init__(self, workdir: Path, backend: str) -> None:
        super().__init__(workdir)
        self.backend = backend
        self.name = f"smemu serve ({backend})"
        self.whole_object = backend == "moto"

    def command(self) -> list[str]:
        # No quota: the CreateTrainingJob phase keeps 100 jobs waiting for capacity at once.
        return [*super().command(), "--s3-backend", self.backend,
                "--max-training-instances", "100000"]

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service, endpoint_url=self.url, **CREDENTIALS,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                          max_pool_connections=32))


class DirectS3(Server):
    """The same S3 application on its own port (bench.s3_direct)."""

    def __init__(self, workdir: Path, backend: str) -> None:
        super().__init__(workdir)
        self.backend = backend
        self.name = f"{backend} S3 direct"

    def command(self) -> list[str]:
        root = self.workdir / "root"
        root.mkdir(parents=True, exist_ok=True)
        return [sys.executable, "-m", "bench.s3_direct", self.backend, str(self.port),
                str(root)]


def request(name: str, bucket: str, *, image: str = TOY, spot: bool = False,
            hyperparameters: dict[str, str] | None = None, checkpoint: str | None = None,
            entrypoint: list[str] | None = None, tags: dict[str, str] | None = None
            ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": dict(hyperparameters or {}),
    }
    if entrypoint:
        out["AlgorithmSpecification"]["ContainerEntrypoint"] = entrypoint
    if spot:
        out["EnableManagedSpotTraining"] = True
        out["StoppingCondition"]["MaxWaitTimeInSeconds"] = 7200
    if checkpoint:
        out["CheckpointConfig"] = {"S3Uri": checkpoint}
    if tags:
        out["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return out


def job_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_job(sagemaker: Any, name: str, poll: float = 0.05, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sagemaker.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in TERMINAL:
            return dict(job)
        time.sleep(poll)
    raise TimeoutError(f"{name} did not end in {timeout:.0f}s")


def report(endpoint: Endpoint, name: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint.url}/_smemu/jobs/{name}", timeout=30) as answer:
        return dict(json.loads(answer.read()))


def interrupt(endpoint: Endpoint, name: str) -> None:
    post = urllib.request.Request(f"{endpoint.url}/_smemu/jobs/{name}/interrupt", method="POST")
    with urllib.request.urlopen(post, timeout=30) as answer:
        answer.read()


class ContainerStarts:
    """Docker's `start` events of one job's containers, stamped by the daemon (no polling)."""

    def __init__(self, job: str) -> None:
        self.client = docker.from_env()
        self.starts: dict[str, float] = {}  # attempt -> when its container started (epoch)
        self.changed = threading.Condition()
        self._events = self.client.events(decode=True, filters={
            "type": "container", "event": "start", "label": f"smemu.job={job}"})
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            for event in self._events:
                labels = event.get("Actor", {}).get("Attributes", {})
                with self.changed:
                    self.starts[labels.get("smemu.attempt", "?")] = event["timeNano"] / 1e9
                    self.changed.notify_all()
        except Exception:  # closed
            pass

    def wait_for(self, attempt: int, timeout: float = 900) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: str(attempt) in self.starts, timeout):
                raise TimeoutError(f"attempt {attempt}'s container did not start")
            return self.starts[str(attempt)]

    def close(self) -> None:
        self._events.close()


def bare_docker_run(config_dir: Path) -> float:
    """`docker run` of the toy trainer doing the trivial job's work, the whole process timed."""
    model = Path(tempfile.mkdtemp(prefix="bench-model-"))
    started = time.monotonic()
    subprocess.run(["docker", "run", "--rm", "--network", "none",
                    "-v", f"{config_dir}:/opt/ml/input/config",
                    "-v", f"{model}:/opt/ml/model", TOY, "train"],
                   check=True, capture_output=True, timeout=300)
    seconds = time.monotonic() - started
    subprocess.run(["rm", "-rf", str(model)], check=False)
    return seconds


def trivial_config() -> Path:
    config = Path(tempfile.mkdtemp(prefix="bench-config-"))
    (config / "hyperparameters.json").write_text(json.dumps(TRIVIAL))
    return config


def smemu_run(endpoint: Endpoint, bucket: str) -> float:
    """`smemu run` of the trivial job, the whole process timed."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "benchsecret"}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
                    "--image", TOY, "--job-name", job_name("trivial-cli"), "--no-logs",
                    "--output-path", f"s3://{bucket}/output",
                    *[a for k, v in TRIVIAL.items() for a in ("-H", f"{k}={v}")]],
                   check=True, capture_output=True, timeout=300, env=env)
    return time.monotonic() - started


__all__ = ["BASE", "TOY", "ContainerStarts", "DirectS3", "Endpoint", "bare_docker_run",
           "free_port", "interrupt", "job_name", "report", "request", "smemu_run",
           "trivial_config", "wait_job"]
