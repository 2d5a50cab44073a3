"""Crash recovery: `smemu serve` SIGKILLed mid-job, then restarted on the same state directory.

The job leaves InProgress (Failed, `InternalServerError: ...`), its record survives, what the
container checkpointed after the crash (nobody mirrored it) is uploaded, and none of its
containers or networks is left. The checkpoints go to an external S3 server (its own process),
or to the embedded S3 on disk (`--s3-backend disk`); the embedded moto S3 is in the endpoint's
memory and dies with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import figures
from tests.support.endpoint import EndpointProcess, toy_request, wait_for_status

# Never beside its kin under xdist: SERIAL_GROUPS["docker-orphans"], tests/support/parallel.py.
pytestmark = pytest.mark.docker
TALLY = figures.Tally("crash-restarts")  # the README's Reliability figure


def checkpoint_step(s3: Any, bucket: str, key: str) -> int | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return int(json.loads(body)["step"])


def wait_for_checkpoint(s3: Any, bucket: str, key: str, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step = checkpoint_step(s3, bucket, key)
        if step:
            return step
        time.sleep(0.3)
    raise TimeoutError(f"no checkpoint at s3://{bucket}/{key} within {timeout}s")


def wait_for_local_step_after(path: Path, step: int, timeout: float = 60) -> int:
    """Until the container's own checkpoint file (renamed into place) is past `step`: its step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            now = int(json.loads(path.read_text())["step"])
        except (OSError, ValueError, KeyError):
            now = 0
        if now > step:
            return now
        time.sleep(0.2)
    raise TimeoutError(f"{path} never got past step {step} within {timeout}s")


def leftovers(docker_client: Any, server_id: str) -> list[str]:
    selector = {"label": f"smemu.server={server_id}"}
    return [c.name for c in docker_client.containers.list(all=True, filters=selector,
            ignore_removed=True)] + \
        [n.name for n in docker_client.networks.list(filters=selector)]


@pytest.mark.parametrize("where", ["external-s3", "embedded-disk-s3"])
def test_a_sigkilled_endpoint_leaves_no_job_in_progress_and_loses_no_checkpoint(
        tmp_path: Path, request: pytest.FixtureRequest, docker_client: Any, where: str) -> None:
    state = tmp_path / "state"
    bucket = f"crash-recovery-{where}"
    if where == "external-s3":
        external_s3 = request.getfixturevalue("external_s3")
        s3_flags: tuple[str, ...] = ("--s3-endpoint-url", external_s3.meta.endpoint_url)
    else:
        s3_flags = ("--s3-backend", "disk")
    first = EndpointProcess(state, *s3_flags, "--grace-period", "5s")
    with first:
        s3 = external_s3 if where == "external-s3" else first.client("s3")
        s3.create_bucket(Bucket=bucket)
        sagemaker = first.client("sagemaker")
        # Long enough to outlive the crash; a checkpoint every 5 steps (0.5 s).
        sagemaker.create_training_job(**toy_request(
            "crashed-job", steps=600, checkpoint_uri=f"s3://{bucket}/ckpt", bucket=bucket,
            seconds_per_step="0.1"))
        wait_for_status(sagemaker, "crashed-job", "Training")
        mirrored = wait_for_checkpoint(s3, bucket, "ckpt/checkpoint.json")
        assert first.process is not None and first.process.process is not None
        first.process.process.kill()  # SIGKILL: no shutdown, no cleanup
        first.process.process.wait()
        # The container outlives the endpoint and goes on checkpointing, unmirrored.
        assert leftovers(docker_client, first.server_id), "the crash left nothing to recover"
        local = (state / "work" / first.server_id / "crashed-job" / "attempt-1" / "algo-1"
                 / "checkpoints" / "checkpoint.json")
        # Nothing the endpoint uploaded before it died is newer than this (an upload may still
        # be on its way to the S3 server, so S3 may move on to it): the container goes on, two
        # checkpoints further, and S3 stays behind it.
        at_kill = wait_for_local_step_after(local, mirrored - 1)
        wait_for_local_step_after(local, at_kill + 5)
        if where == "external-s3":  # (the embedded one died with the endpoint)
            assert checkpoint_step(s3, bucket, "ckpt/checkpoint.json") <= at_kill

    with EndpointProcess(state, *s3_flags) as second:
        s3 = external_s3 if where == "external-s3" else second.client("s3")
        sagemaker = second.client("sagemaker")
        job = sagemaker.describe_training_job(TrainingJobName="crashed-job")
        assert job["TrainingJobStatus"] == "Failed", job["TrainingJobStatus"]
        assert job["SecondaryStatus"] == "Failed"
        assert job["FailureReason"].startswith("InternalServerError: ")
        assert f"server {first.server_id}" in job["FailureReason"]
        assert job["SecondaryStatusTransitions"][-1]["Status"] == "Failed"
        assert [t["Status"] for t in job["SecondaryStatusTransitions"]][:3] == [
            "Starting", "Downloading", "Training"]
        assert leftovers(docker_client, first.server_id) == []
        assert not (state / "work" / first.server_id).exists(), job["FailureReason"]
        # What the container wrote after the crash is in S3 now.
        recovered = checkpoint_step(s3, bucket, "ckpt/checkpoint.json")
        assert recovered is not None and recovered > at_kill
        TALLY.add(restarts=1, checkpoints_recovered=1)
        report = second.report("crashed-job")
        uploaded = {f["path"] for a in report["Attempts"] for f in a["CheckpointsUploaded"]}
        assert "checkpoint.json" in uploaded
        listed = subprocess.run(
            [sys.executable, "-m", "emulator", "checkpoints", "ls", "crashed-job",
             "--endpoint-url", second.url], capture_output=True, text=True, timeout=120,
            env=dict(os.environ))
        assert listed.returncode == 0, listed.stderr
        assert "checkpoint.json" in listed.stdout


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
