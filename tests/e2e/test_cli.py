"""The `smemu` command as a user runs it: subprocesses against a real endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess, free_port

pytestmark = pytest.mark.docker


def smemu(*args: str, env: dict[str, str] | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_run_json_shows_interruption_and_completion(endpoint: EndpointProcess, bucket: str,
                                                   job_name: str) -> None:
    result = smemu("run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE,
                   "--job-name", job_name, "--spot", "--max-wait", "600",
                   "--checkpoint-s3-uri", f"s3://{bucket}/prefix", "--interrupt", "after=2s",
                   "--grace-period", "10s", "-H", "total_steps=30", "-H", "seconds_per_step=0.1",
                   "--json")
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)  # stdout is the JSON document and nothing else
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert "Interrupted" in statuses
    assert job["TrainingJobStatus"] == "Completed"
    assert job["EnableManagedSpotTraining"] is True
    assert len(job["SmemuReport"]["Attempts"]) == 2


def test_run_creates_missing_buckets_and_prints_a_summary(endpoint: EndpointProcess,
                                                         job_name: str) -> None:
    result = smemu("run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE,
                   "--job-name", job_name, "-H", "total_steps=3", "-H", "seconds_per_step=0.05",
                   "--output-path", f"s3://{job_name}-out/models")
    assert result.returncode == 0, result.stderr
    assert f"created bucket s3://{job_name}-out" in result.stdout
    assert "training complete: step 3" in result.stdout
    assert f"Job {job_name}: Completed" in result.stdout
    assert "==> " in result.stdout and "Uploading" in result.stdout


def test_failed_job_exits_non_zero(endpoint: EndpointProcess, job_name: str) -> None:
    result = smemu("run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE,
                   "--job-name", job_name, "-H", "total_steps=5", "-H", "fail_at_step=2",
                   "-H", "seconds_per_step=0.05")
    assert result.returncode == 1
    assert "Failure reason: AlgorithmError: simulated failure at step 2" in result.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["--job-name", "bad_name"], "ValidationException: 1 validation error detected: Value "
     "'bad_name' at 'trainingJobName' failed to satisfy constraint"),
    (["--image", "no-such-image:never"], "docker build"),
    (["--max-wait", "100"], "Invalid MaxWaitTimeInSeconds. It is only supported when "
     "EnableManagedSpotTraining is set to true"),
    (["--interrupt", "whenever"], "invalid interruption trigger"),
    (["-H", "novalue"], "--hyperparameter expects KEY=VALUE"),
])
def test_bad_input_is_one_clear_line(endpoint: EndpointProcess, args: list[str],
                                     expected: str) -> None:
    base = ["run", "--endpoint-url", endpoint.url]
    if "--image" not in args:
        base += ["--image", TOY_IMAGE]
    result = smemu(*base, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_unreachable_endpoint_is_a_clear_error() -> None:
    port = free_port()
    result = smemu("run", "--endpoint-url", f"http://127.0.0.1:{port}", "--image", TOY_IMAGE)
    assert result.returncode == 2
    assert f"no smemu endpoint answers at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_status_down_are_idempotent(tmp_path: Path, docker_client: Any) -> None:
    port = str(free_port())
    env = {"SMEMU_STATE_DIR": str(tmp_path / "state")}
    assert smemu("status", "--port", port, env=env).returncode == 1
    first = smemu("up", "--port", port, env=env)
    assert first.returncode == 0, first.stderr
    assert "started" in first.stdout
    again = smemu("up", "--port", port, env=env)
    assert "already running" in again.stdout
    status = smemu("status", "--port", port, "--json", env=env)
    assert json.loads(status.stdout)["running"] is True
    assert (tmp_path / "state" / f"endpoint-{port}.log").exists()
    # A second endpoint on another port keeps its own record: neither is orphaned.
    other = str(free_port())
    assert smemu("up", "--port", other, "--verbose", env=env).returncode == 0
    # `smemu status` lists every running endpoint, not only the default port's.
    listing = smemu("status", env=env)
    assert listing.returncode == 0, listing.stderr
    assert {f"http://127.0.0.1:{port}", f"http://127.0.0.1:{other}"} <= {
        line.split()[2] for line in listing.stdout.splitlines() if line.startswith("running on")}
    # The access log is at DEBUG: only the endpoint started with --verbose logs requests.
    logs = {p: (tmp_path / "state" / f"endpoint-{p}.log").read_text() for p in (port, other)}
    assert '"GET /_smemu/health HTTP/1.1" 200' in logs[other]
    assert "/_smemu/health" not in logs[port]
    assert f"port {other}" in smemu("down", "--port", other, env=env).stdout
    assert smemu("status", "--port", port, env=env).returncode == 0
    assert f"port {port}" in smemu("down", env=env).stdout
    assert smemu("status", "--port", port, env=env).returncode == 1
    nothing = smemu("status", env=env)
    assert nothing.returncode == 1 or "running on http://127.0.0.1:4590" in nothing.stdout
    assert "no background endpoint" in smemu("down", env=env).stdout
