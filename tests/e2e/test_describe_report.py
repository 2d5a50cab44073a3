"""`smemu jobs describe` tells the truth: every attempt counted in the plain form, the S3 proof
claimed only for attempts that ended, a stop shown as a stop, no model that was never written,
and not-found in each operation's words. Real endpoint, real Docker, the CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def smemu(endpoint: EndpointProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args, "--endpoint-url",
                           endpoint.url], capture_output=True, text=True, timeout=60)


def describe(endpoint: EndpointProcess, name: str, *flags: str) -> str:
    done = smemu(endpoint, "jobs", "describe", name, *flags)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_plain_describe_counts_every_attempt(endpoint: EndpointProcess, sagemaker: Any,
                                             bucket: str, job_name: str) -> None:
    # 10 s of training: slack for a late first trigger (under load CI saw the 2nd never fire)
    sagemaker.create_training_job(**toy_request(
        job_name, steps=100, bucket=bucket, checkpoint_uri=f"s3://{bucket}/{job_name}",
        tags=[{"Key": "smemu:interrupt", "Value": "after=1s after=1s"}]))
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Completed"
    plain = describe(endpoint, job_name)
    assert "  Attempts: 3, interruptions: 2" in plain
    assert "attempt  outcome" not in plain  # the table is what --attempts adds
    assert "attempt  outcome" in describe(endpoint, job_name, "--attempts")


def test_a_running_then_stopped_job_is_reported_as_it_is(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**toy_request(
        job_name, steps=2000, bucket=bucket, checkpoint_uri=f"s3://{bucket}/{job_name}",
        tags=[{"Key": "smemu:interrupt", "Value": "after=1s"},
              {"Key": "smemu:grace-period", "Value": "10s"}]))
    deadline = time.monotonic() + 120
    while True:  # attempt 2 training: attempt 1 ended and was proven, attempt 2 was not yet
        attempts = endpoint.report(job_name)["Attempts"]
        status = sagemaker.describe_training_job(TrainingJobName=job_name)["SecondaryStatus"]
        if len(attempts) == 2 and status == "Training":
            break
        assert time.monotonic() < deadline, f"attempt 2 never trained: {status}, {attempts}"
        time.sleep(0.2)
    running = describe(endpoint, job_name, "--attempts")
    assert "after every attempt" not in running
    assert "after every ended attempt (1 of 2; the last is still running)" in running

    assert smemu(endpoint, "jobs", "stop", job_name).returncode == 0
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Stopped"
    stopped = describe(endpoint, job_name, "--attempts")
    assert "attempt 2: STOPPED by StopTrainingJob (SIGTERM, 10s grace)" in stopped
    assert "INTERRUPTED by manual" not in stopped
    assert "attempt 1: INTERRUPTED by after=1s" in stopped
    assert "after every attempt" in stopped
    # A stop uploads the model: it exists, and is advertised.
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert f"Model: {uri}" in stopped
    bucket_name, _, key = uri[5:].partition("/")
    endpoint.client("s3").head_object(Bucket=bucket_name, Key=key)


def test_a_job_that_never_launched_advertises_no_model(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    request = toy_request(job_name, bucket=bucket, checkpoint_uri=None,
                          tags=[{"Key": "smemu:interrupt", "Value": "wait=1h"}])
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 2, "MaxWaitTimeInSeconds": 2}
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["SecondaryStatus"] == "MaxWaitTimeExceeded"
    assert "ModelArtifacts" not in job
    assert s3.list_objects_v2(Bucket=bucket, Prefix="output/").get("KeyCount") == 0
    assert "Model:" not in describe(endpoint, job_name)


def test_not_found_in_each_operations_words(endpoint: EndpointProcess) -> None:
    described = smemu(endpoint, "jobs", "describe", "never-created")
    assert described.returncode != 0
    assert "ValidationException: Requested resource not found." in described.stderr
    for command in ("stop", "delete"):
        done = smemu(endpoint, "jobs", command, "never-created")
        assert done.returncode != 0
        assert "ResourceNotFound: Amazon SageMaker can't find a training job called " \
               "never-created." in done.stderr, done.stderr
