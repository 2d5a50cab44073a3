"""RetryStrategy: a lost host (trigger `host-failure`) is an internal failure, retried up to
MaximumRetryAttempts times (SecondaryStatus back to Starting), else the job fails with
InternalServerError. Real Docker, the toy trainer, an on-demand job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_spot_resume import model_of, statuses
from tests.support.endpoint import (
    EndpointProcess,
    toy_attempt,
    toy_request,
    toy_value,
    wait_for_job,
)

pytestmark = pytest.mark.docker


def host_failure_job(name: str, bucket: str, retries: int | None,
                     plan: str = "host-failure=6s") -> dict[str, Any]:
    request = toy_request(name, steps=100, spot=False, checkpoint_uri=f"s3://{bucket}/{name}/",
                          bucket=bucket, tags=[{"Key": "smemu:interrupt", "Value": plan}])
    if retries is not None:
        request["RetryStrategy"] = {"MaximumRetryAttempts": retries}
    return request


def test_a_retried_host_failure_completes(endpoint: EndpointProcess, sagemaker: Any, s3: Any,
                                          bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**host_failure_job(job_name, bucket, retries=1))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert statuses(job) == ["Starting", "Downloading", "Training",
                             "Starting", "Downloading", "Training", "Uploading", "Completed"]
    retried = job["SecondaryStatusTransitions"][3]
    assert retried["StatusMessage"] == "Retrying the training job after an internal error"
    assert job["RetryStrategy"] == {"MaximumRetryAttempts": 1}
    attempts = endpoint.report(job_name)["Attempts"]
    assert [a["Outcome"] for a in attempts] == ["host-failure", "completed"]
    first = attempts[0]
    assert first["Interruption"] == "host-failure=6s"
    assert first["SigKilled"] is True and first["GracePeriodSeconds"] == 0  # no SIGTERM
    # The retry restored the checkpoints (one every 0.5 s) like any new attempt, and resumed.
    assert attempts[1]["Resume"] == "resumed", attempts
    assert model_of(s3, job)["value"] == toy_value(100)
    assert toy_attempt(s3, job)["resumed_from"] > 0
    # Retries count against MaxRuntimeInSeconds: both attempts' training is billed and counted.
    assert job["TrainingTimeInSeconds"] >= int(sum(a["TrainingSeconds"] for a in attempts))


@pytest.mark.parametrize("retries", [None, 1])
def test_a_host_failure_without_a_retry_left_fails_the_job(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str,
        retries: int | None) -> None:
    # Without RetryStrategy: the first failure ends it; with one retry: the second does.
    plan = "host-failure=1s" if retries is None else "host-failure=1s host-failure=1s"
    sagemaker.create_training_job(**host_failure_job(job_name, bucket, retries, plan))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        "InternalServerError: We encountered an internal error. Please try again.")
    assert "host-failure=1s" in job["FailureReason"]
    attempts = endpoint.report(job_name)["Attempts"]
    assert [a["Outcome"] for a in attempts] == ["host-failure"] * (1 + (retries or 0))
    assert statuses(job)[-1] == "Failed" and statuses(job).count("Starting") == len(attempts)
