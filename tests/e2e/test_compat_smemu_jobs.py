"""`smemu jobs list / describe / stop / delete` as a subprocess against the endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def smemu(endpoint: EndpointProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args, "--endpoint-url",
                           endpoint.url], capture_output=True, text=True, timeout=60)


def test_jobs_list_describe_delete(endpoint: EndpointProcess, sagemaker: Any, bucket: str,
                                   job_name: str) -> None:
    sagemaker.create_training_job(**toy_request(job_name, steps=1000, bucket=bucket,
                                                spot=False, checkpoint_uri=None))
    refused = smemu(endpoint, "jobs", "delete", job_name)
    assert refused.returncode == 2
    assert "ValidationException" in refused.stderr and "status InProgress" in refused.stderr

    assert smemu(endpoint, "jobs", "stop", job_name).returncode == 0
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Stopped"

    listed = smemu(endpoint, "jobs", "list", "--json", "--name-contains", job_name)
    assert listed.returncode == 0, listed.stderr
    summaries = json.loads(listed.stdout)["TrainingJobSummaries"]
    assert [(s["TrainingJobName"], s["TrainingJobStatus"]) for s in summaries] == [
        (job_name, "Stopped")]
    table = smemu(endpoint, "jobs", "list", "--name-contains", job_name)
    assert job_name in table.stdout and "Stopped" in table.stdout

    described = smemu(endpoint, "jobs", "describe", job_name, "--json")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["TrainingJobStatus"] == "Stopped"

    deleted = smemu(endpoint, "jobs", "delete", job_name)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {job_name}" in deleted.stdout
    again = smemu(endpoint, "jobs", "describe", job_name)
    assert again.returncode == 2
    assert "ValidationException: Requested resource not found." in again.stderr
