"""Edge cases found in review: runtime spent in grace periods, interrupts at odd moments,
images without `train`, and an endpoint stopped while jobs sit in their grace windows."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job, wait_for_status

pytestmark = pytest.mark.docker


def sleeper_request(name: str, bucket: str, **tags: str) -> dict[str, Any]:
    """A spot job whose container ignores SIGTERM (`sleep` as PID 1)."""
    request = toy_request(name, checkpoint_uri=None, bucket=bucket,
                          tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sleep", "1000"]}
    return request


def interrupt(endpoint: EndpointProcess, name: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{endpoint.url}/_smemu/jobs/{name}/interrupt",
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_grace_periods_count_against_max_runtime(sagemaker: Any, bucket: str,
                                                 job_name: str) -> None:
    request = sleeper_request(job_name, bucket, **{"smemu:interrupt": "after=2s",
                                                  "smemu:grace-period": "30s"})
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 5, "MaxWaitTimeInSeconds": 60}
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=60)
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert job["TrainingTimeInSeconds"] <= 7  # the grace was capped at the runtime left
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]].count("Training") == 1


def test_interrupt_only_while_training(endpoint: EndpointProcess, sagemaker: Any, bucket: str,
                                       job_name: str) -> None:
    sagemaker.create_training_job(**sleeper_request(job_name, bucket,
                                                    **{"smemu:grace-period": "3s"}))
    wait_for_status(sagemaker, job_name, "Training")
    assert interrupt(endpoint, job_name)[0] == 200
    status, body = interrupt(endpoint, job_name)  # the first one is still ending the attempt
    assert status == 400 and "can only be injected while it is Training" in body
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the second attempt trains
        transitions = sagemaker.describe_training_job(
            TrainingJobName=job_name)["SecondaryStatusTransitions"]
        if [t["Status"] for t in transitions].count("Training") == 2:
            break
        time.sleep(0.2)
    time.sleep(1)
    sagemaker.stop_training_job(TrainingJobName=job_name)
    job = wait_for_job(sagemaker, job_name, timeout=60)
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses.count("Interrupted") == 1  # the refused request did not fire later


def test_image_without_train_fails_as_the_users_error(sagemaker: Any, bucket: str,
                                                      job_name: str) -> None:
    request = toy_request(job_name, checkpoint_uri=None, bucket=bucket, spot=False)
    request["AlgorithmSpecification"]["TrainingImage"] = "smemu-base:latest"  # no `train`
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: the training container could not start")
    assert "train" in job["FailureReason"]


def test_endpoint_stops_promptly_with_jobs_in_grace(tmp_path: Path, docker_client: Any) -> None:
    with EndpointProcess(tmp_path / "state") as ep:
        sagemaker = ep.client("sagemaker")
        ep.client("s3").create_bucket(Bucket="grace")
        for n in range(2):
            sagemaker.create_training_job(**sleeper_request(f"grace-{n}", "grace"))
        for n in range(2):
            wait_for_status(sagemaker, f"grace-{n}", "Training")
            assert interrupt(ep, f"grace-{n}")[0] == 200  # default grace: 120 s
        time.sleep(1)
        started = time.monotonic()
    assert time.monotonic() - started < 30
    label = {"label": f"smemu.server={ep.server_id}"}
    assert not docker_client.containers.list(all=True, filters=label)
    assert not docker_client.networks.list(filters=label)
    assert not (tmp_path / "state" / "work" / ep.server_id).exists()


def test_stop_during_an_interruptions_grace_still_uploads_the_model(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**sleeper_request(job_name, bucket,
                                                    **{"smemu:grace-period": "3s"}))
    wait_for_status(sagemaker, job_name, "Training")
    assert interrupt(endpoint, job_name)[0] == 200
    time.sleep(0.5)
    sagemaker.stop_training_job(TrainingJobName=job_name)
    job = wait_for_job(sagemaker, job_name, timeout=60)
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-3:] == [
        "Stopping", "Uploading", "Stopped"]
