"""Ctrl-C on `smemu run` stops the job (StopTrainingJob), the model is still uploaded, and
nothing is left behind; a second Ctrl-C detaches and leaves the job to the endpoint."""

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

import pytest

from tests.support.endpoint import (
    SLEEPER_MODEL,
    TOY_IMAGE,
    EndpointProcess,
    read_model_tar,
    sigterm_step,
    sleeper_request,
    toy_request,
    toy_value,
    wait_for_job,
    wait_for_status,
)

pytestmark = pytest.mark.docker


def read_until(process: subprocess.Popen[str], pattern: str, seen: list[str],
               timeout: float = 120) -> None:
    """Read the process's output into `seen` until a line matches `pattern`."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return
        assert time.monotonic() < deadline, f"no line matching {pattern!r}:\n" + "".join(seen)
    raise AssertionError(f"output ended before {pattern!r}:\n" + "\n".join(seen))


def test_ctrl_c_stops_the_job_and_cleans_up(endpoint: EndpointProcess, sagemaker: Any, s3: Any,
                                            bucket: str, job_name: str,
                                            docker_client: Any) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
         "--image", TOY_IMAGE, "--job-name", job_name, "--checkpoint-s3-uri",
         f"s3://{bucket}/c", "-H", "total_steps=1000", "-H", "seconds_per_step=0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    seen: list[str] = []
    read_until(process, r"step 3/1000", seen)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    output = "\n".join(seen) + "\n" + output
    assert process.returncode == 1  # the job did not complete
    assert f"Stopping {job_name}" in output
    assert f"Job {job_name}: Stopped (Stopped)" in output
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-3:] == [
        "Stopping", "Uploading", "Stopped"]
    # The model saved in the SIGTERM window, at the step the streamed log names.
    step = sigterm_step([re.sub(r"^\[algo-1\] ", "", line) for line in output.splitlines()])
    files = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert set(files) == {"model-at-sigterm.json"}
    model = json.loads(files["model-at-sigterm.json"])
    assert (model["step"], model["value"]) == (step, toy_value(step))
    assert not docker_client.containers.list(all=True, filters={"label": f"smemu.job={job_name}"},
            ignore_removed=True)
    assert not docker_client.networks.list(filters={"label": f"smemu.job={job_name}"})
    assert not (endpoint.state_dir / "work" / endpoint.server_id / job_name).exists()


def test_a_second_ctrl_c_detaches_and_leaves_the_job_running(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str,
        tmp_path: Path, docker_client: Any) -> None:
    request_file = tmp_path / "job.json"
    request_file.write_text(json.dumps(sleeper_request(job_name, bucket)))  # ignores SIGTERM
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
         "--request", str(request_file), "--grace-period", "30s"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    seen: list[str] = []
    try:
        read_until(process, r"^==> \S+ Training\s", seen)
        process.send_signal(signal.SIGINT)
        read_until(process, r"^==> \S+ Stopping\s", seen)  # StopTrainingJob went through
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output = "\n".join(seen) + "\n" + output
    assert process.returncode == 130, output
    assert f"Detached; job {job_name} goes on" in output
    # The endpoint still runs the job: in its 30 s grace, the container alive.
    assert sagemaker.describe_training_job(
        TrainingJobName=job_name)["TrainingJobStatus"] == "Stopping"
    assert docker_client.containers.list(filters={"label": f"smemu.job={job_name}"},
            ignore_removed=True)
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-3:] == [
        "Stopping", "Uploading", "Stopped"]
    assert read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"]) == SLEEPER_MODEL


def test_stopping_the_endpoint_mid_job_removes_everything(tmp_path: Any,
                                                          docker_client: Any) -> None:
    with EndpointProcess(tmp_path / "state") as ep:
        sagemaker = ep.client("sagemaker")
        ep.client("s3").create_bucket(Bucket="shutdown")
        sagemaker.create_training_job(**toy_request(
            "shutdown-job", steps=1000, checkpoint_uri="s3://shutdown/c", bucket="shutdown"))
        wait_for_status(sagemaker, "shutdown-job", "Training")
        label = {"label": f"smemu.server={ep.server_id}"}
        assert docker_client.containers.list(all=True, filters=label, ignore_removed=True)
    assert ep.process is not None
    left = [c.name for c in docker_client.containers.list(all=True, filters=label,
            ignore_removed=True)]
    assert not left, (left, ep.process.returncode, ep.log_text()[-3000:])
    assert not docker_client.networks.list(filters=label)
    assert not (tmp_path / "state" / "work" / ep.server_id).exists()
    assert ep.process.returncode == 0
