"""Interrupting a running job by hand, plan files, and the attempt report, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import TOY_IMAGE, EndpointProcess, wait_for_job, wait_for_status

pytestmark = pytest.mark.docker


def test_jobs_interrupt_then_describe_attempts(endpoint: EndpointProcess, sagemaker: Any,
                                               bucket: str, job_name: str) -> None:
    # 20 s of training: the `smemu jobs interrupt` process (seconds to start on a loaded
    # machine) must come while the job still trains, not as it ends.
    created = smemu("run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE,
                    "--job-name", job_name, "--spot", "--max-wait", "600",
                    "--checkpoint-s3-uri", f"s3://{bucket}/c", "-H", "total_steps=200",
                    "-H", "seconds_per_step=0.1", "--grace-period", "10s", "--detach", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["TrainingJobName"] == job_name
    wait_for_status(sagemaker, job_name, "Training")
    interrupted = smemu("jobs", "interrupt", job_name, "--endpoint-url", endpoint.url)
    assert interrupted.returncode == 0, interrupted.stderr
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed"
    assert "Interrupted" in [t["Status"] for t in job["SecondaryStatusTransitions"]]
    described = smemu("jobs", "describe", job_name, "--attempts", "--endpoint-url", endpoint.url)
    assert described.returncode == 0, described.stderr
    assert "INTERRUPTED by manual" in described.stdout
    assert "resumed" in described.stdout
    # Interrupting a finished job is refused in SageMaker's words.
    again = smemu("jobs", "interrupt", job_name, "--endpoint-url", endpoint.url)
    assert again.returncode == 2
    assert "is in status Completed" in again.stderr


def test_plan_file_and_a_non_spot_job(endpoint: EndpointProcess, tmp_path: Path,
                                      bucket: str, job_name: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("interrupt:\n  - trigger: checkpoint=1\n    grace: 5s\n")
    result = smemu("run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE,
                   "--job-name", job_name, "--spot", "--max-wait", "600",
                   "--checkpoint-s3-uri", f"s3://{bucket}/p", "--interrupt-plan", str(plan),
                   "-H", "total_steps=12", "-H", "seconds_per_step=0.1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["SmemuReport"]
    assert report["Attempts"][0]["Interruption"] == "checkpoint=1/grace=5s"
    assert report["Attempts"][1]["Resume"] == "resumed"
    refused = smemu("run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE,
                    "--interrupt", "after=1s")
    assert refused.returncode == 2 and "--spot" in refused.stderr
