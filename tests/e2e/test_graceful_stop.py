"""Stopping the endpoint stops its jobs as StopTrainingJob does: SIGTERM to `smemu serve` (what
Ctrl-C does too) and `smemu down` give every running job SIGTERM and a grace period cut to the
shutdown budget, then SIGKILL; the checkpoints and the model are uploaded, the job ends Stopped
in the history, and nothing of it is left in Docker. The next endpoint on the same state
directory (the embedded S3 on disk) shows all of it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator.server.daemon import health
from emulator.testing import Endpoint
from tests.support.endpoint import (
    CREDENTIALS,
    SLEEPER_MODEL,
    EndpointProcess,
    free_port,
    job_log,
    read_model_tar,
    sigterm_step,
    sleeper_request,
    toy_request,
    toy_value,
    wait_for_log,
    wait_for_status,
)

pytestmark = pytest.mark.docker
DISK_S3 = ("--s3-backend", "disk")


def leftovers(docker_client: Any, server_id: str) -> list[str]:
    selector = {"label": f"smemu.server={server_id}"}
    return [c.name for c in docker_client.containers.list(all=True, filters=selector,
            ignore_removed=True)] + \
        [n.name for n in docker_client.networks.list(filters=selector)]


class Background:
    """`smemu up --port P` on a state directory, stopped by `smemu down --port P`."""

    def __init__(self, state: Path, *serve_args: str, port: int | None = None) -> None:
        self.state, self.serve_args = state, serve_args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_id = ""

    def smemu(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
                              text=True, timeout=300,
                              env={**os.environ, "SMEMU_STATE_DIR": str(self.state)})

    def __enter__(self) -> Background:
        started = self.smemu("up", "--port", str(self.port), *self.serve_args)
        assert started.returncode == 0, started.stdout + started.stderr
        doc = health(self.url)
        assert doc, f"nothing answers on {self.url}"
        self.server_id = str(doc["server_id"])
        return self

    def down(self) -> str:
        stopped = self.smemu("down", "--port", str(self.port))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        return stopped.stdout

    def __exit__(self, *exc: object) -> None:
        if health(self.url):
            self.down()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            **CREDENTIALS)

    def report(self, name: str) -> dict[str, Any]:
        return Endpoint.connect(self.url).report(name)

    def log_text(self) -> str:
        return (self.state / f"endpoint-{self.port}.log").read_text(errors="replace")


def wait_for_container(docker_client: Any, name: str, timeout: float = 120) -> None:
    """Until the job's training container runs (Training is reported just before it starts):
    the shutdown's SIGTERM is then for the container, not for a job still launching it."""
    selector = {"label": [f"smemu.job={name}", "smemu.attempt"], "status": "running"}
    deadline = time.monotonic() + timeout
    while not docker_client.containers.list(filters=selector, ignore_removed=True):
        assert time.monotonic() < deadline, f"no running container of {name}"
        time.sleep(0.2)


def child(endpoint: EndpointProcess) -> subprocess.Popen[bytes]:
    """The `smemu serve` process itself."""
    assert endpoint.process is not None and endpoint.process.process is not None
    return endpoint.process.process


def checkpoint_body(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


@pytest.mark.parametrize("how", ["sigterm-to-serve", "smemu-down"])
def test_stopping_the_endpoint_stops_the_job_uploads_it_and_saves_it_stopped(
        tmp_path: Path, docker_client: Any, how: str) -> None:
    state, bucket, name = tmp_path / "state", "graceful", "graceful-job"
    # The job's own grace (120 s by default) is longer than the budget: the budget wins, but
    # the toy trainer handles SIGTERM, saving its checkpoint and model at once.
    if how == "sigterm-to-serve":
        endpoint: Any = EndpointProcess(state, *DISK_S3, "--shutdown-budget", "60s")
        endpoint.start()
    else:
        endpoint = Background(state, *DISK_S3, "--shutdown-budget", "60s").__enter__()
    s3 = endpoint.client("s3")
    s3.create_bucket(Bucket=bucket)
    sagemaker = endpoint.client("sagemaker")
    sagemaker.create_training_job(**toy_request(
        name, steps=100000, checkpoint_uri=f"s3://{bucket}/ckpt", bucket=bucket))
    wait_for_log(endpoint, name, r"checkpoint saved at step \d+")
    if how == "sigterm-to-serve":
        endpoint.stop()  # SIGTERM, and waits for the exit
        assert child(endpoint).returncode == 0, endpoint.log_text()
    else:
        assert f"stopped the endpoint on port {endpoint.port}" in endpoint.down()
        assert health(endpoint.url) is None
    log = endpoint.log_text()
    assert "smemu endpoint stopped" in log, log  # it exited by itself, not SIGKILLed
    assert not leftovers(docker_client, endpoint.server_id)
    assert not (state / "work" / endpoint.server_id).exists()

    # The endpoint on port P keeps its history in jobs-P.sqlite3: the next one on P reads it.
    again: Any = EndpointProcess(state, *DISK_S3) if how == "sigterm-to-serve" else \
        Background(state, *DISK_S3, port=endpoint.port)
    with again:
        sagemaker, s3 = again.client("sagemaker"), again.client("s3")
        job = sagemaker.describe_training_job(TrainingJobName=name)
        assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
        assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-3:] == [
            "Stopping", "Uploading", "Stopped"]
        # The trainer saved its model and checkpoint at SIGTERM: both are in S3, at the step
        # its log names.
        step = sigterm_step(job_log(again, name))
        model = json.loads(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])[
            "model-at-sigterm.json"])
        assert (model["step"], model["value"]) == (step, toy_value(step))
        assert checkpoint_body(s3, bucket, "ckpt/checkpoint.json") == model
        (attempt,) = again.report(name)["Attempts"]
        assert attempt["StoppedBy"] == "StopTrainingJob (the endpoint shut down)"
        assert not attempt["SigKilled"] and attempt["MirrorVerified"]


def _sigterm_while_a_sleeper_trains(endpoint: EndpointProcess, docker_client: Any, bucket: str,
                                    name: str) -> None:
    """A sleeper job (it ignores SIGTERM) in Training, its container up; then SIGTERM to serve."""
    endpoint.client("s3").create_bucket(Bucket=bucket)
    sagemaker = endpoint.client("sagemaker")
    sagemaker.create_training_job(**sleeper_request(name, bucket))
    wait_for_status(sagemaker, name, "Training")
    wait_for_container(docker_client, name)
    child(endpoint).send_signal(signal.SIGTERM)


def test_a_job_ignoring_sigterm_is_sigkilled_within_the_budget(tmp_path: Path,
                                                               docker_client: Any) -> None:
    state, bucket, name = tmp_path / "state", "budget", "ignores-sigterm"
    # The job keeps the default 120 s grace; the endpoint's budget is 5 s.
    endpoint = EndpointProcess(state, *DISK_S3, "--shutdown-budget", "5s")
    endpoint.start()
    try:
        _sigterm_while_a_sleeper_trains(endpoint, docker_client, bucket, name)
        # Far less than the job's 120 s grace (a timeout, not a speed test).
        child(endpoint).wait(timeout=90)
    finally:
        endpoint.stop()
    assert child(endpoint).returncode == 0, endpoint.log_text()
    assert not leftovers(docker_client, endpoint.server_id)

    with EndpointProcess(state, *DISK_S3) as again:
        sagemaker = again.client("sagemaker")
        job = sagemaker.describe_training_job(TrainingJobName=name)
        assert job["TrainingJobStatus"] == "Stopped"
        assert read_model_tar(again.client("s3"), job["ModelArtifacts"][
            "S3ModelArtifacts"]) == SLEEPER_MODEL  # uploaded after the kill
        (attempt,) = again.report(name)["Attempts"]
        assert attempt["SigKilled"] and attempt["ExitCode"] == 137
        assert 0 < attempt["GracePeriodSeconds"] <= 5.0  # SIGTERM, then the budget's end


def test_a_second_sigterm_kills_the_jobs_at_once(tmp_path: Path, docker_client: Any) -> None:
    state, bucket, name = tmp_path / "state", "second", "second-signal"
    endpoint = EndpointProcess(state, *DISK_S3, "--shutdown-budget", "300s")
    endpoint.start()
    try:
        _sigterm_while_a_sleeper_trains(endpoint, docker_client, bucket, name)
        deadline = time.monotonic() + 60
        while not re.search(r"shutting down", endpoint.log_text()):
            assert time.monotonic() < deadline, endpoint.log_text()
            time.sleep(0.2)
        child(endpoint).send_signal(signal.SIGTERM)
        child(endpoint).wait(timeout=120)  # not the 300 s budget
    finally:
        endpoint.stop()
    assert child(endpoint).returncode == 0, endpoint.log_text()
    assert "second signal" in endpoint.log_text()
    assert not leftovers(docker_client, endpoint.server_id)
    with EndpointProcess(state, *DISK_S3) as again:
        job = again.client("sagemaker").describe_training_job(TrainingJobName=name)
        assert job["TrainingJobStatus"] == "Stopped"
        (attempt,) = again.report(name)["Attempts"]
        assert attempt["SigKilled"]
