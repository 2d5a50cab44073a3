"""How a job ends early: StopTrainingJob, MaxRuntimeInSeconds, grace periods, and an endpoint
stopped while jobs run; each still uploads the model."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import (
    SLEEPER_MODEL,
    EndpointProcess,
    interrupt_job,
    job_log,
    read_model_tar,
    sigterm_step,
    sleeper_request,
    toy_request,
    toy_value,
    wait_for_job,
    wait_for_log,
    wait_for_status,
)

pytestmark = pytest.mark.docker


def statuses(job: dict[str, Any]) -> list[str]:
    return [t["Status"] for t in job["SecondaryStatusTransitions"]]


def test_stop_training_job_stops_and_uploads_model(endpoint: EndpointProcess, sagemaker: Any,
                                                   s3: Any, bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**toy_request(job_name, steps=500, checkpoint_uri=None,
                                                bucket=bucket, spot=False))
    wait_for_log(endpoint, job_name, r"^step 1/500 ")  # its SIGTERM handler is in place
    sagemaker.stop_training_job(TrainingJobName=job_name)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert statuses(job)[-3:] == ["Stopping", "Uploading", "Stopped"]
    # The model the trainer saved in its SIGTERM window, at the step its log names.
    step = sigterm_step(job_log(endpoint, job_name))
    files = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert set(files) == {"model-at-sigterm.json"}
    model = json.loads(files["model-at-sigterm.json"])
    assert (model["step"], model["value"]) == (step, toy_value(step))
    with pytest.raises(sagemaker.exceptions.ClientError) as info:
        sagemaker.stop_training_job(TrainingJobName=job_name)
    assert info.value.response["Error"]["Message"] == (
        "The request was rejected because the training job is in status Stopped.")


def test_max_runtime_stops_the_job_and_keeps_the_model(sagemaker: Any, s3: Any, bucket: str,
                                                       job_name: str) -> None:
    request = toy_request(job_name, steps=1000, checkpoint_uri=None, bucket=bucket, spot=False)
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 2}
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert statuses(job)[-3:] == ["Stopping", "Uploading", "MaxRuntimeExceeded"]
    assert 2 <= job["TrainingTimeInSeconds"] <= 30
    # No runtime is left for a SIGTERM window: the trainer is killed before it saves anything,
    # and the model archive is still uploaded, empty.
    assert read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"]) == {}


def test_grace_periods_count_against_max_runtime(endpoint: EndpointProcess, sagemaker: Any,
                                                 bucket: str, job_name: str) -> None:
    # A 600 s grace the container sits out (it ignores SIGTERM), 3 s of runtime left for it.
    request = sleeper_request(job_name, bucket, **{"smemu:interrupt": "after=2s",
                                                  "smemu:grace-period": "600s"})
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 5, "MaxWaitTimeInSeconds": 900}
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=200)
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert statuses(job).count("Training") == 1
    (attempt,) = endpoint.report(job_name)["Attempts"]
    assert attempt["Interruption"] == "after=2s"
    assert attempt["GracePeriodSeconds"] <= 5 - 2  # capped at the runtime left
    assert attempt["SigKilled"] and job["TrainingTimeInSeconds"] < 600


def test_stop_during_an_interruptions_grace_still_uploads_the_model(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**sleeper_request(job_name, bucket,
                                                    **{"smemu:grace-period": "3s"}))
    wait_for_status(sagemaker, job_name, "Training")
    assert interrupt_job(endpoint, job_name)[0] == 200
    time.sleep(0.5)
    sagemaker.stop_training_job(TrainingJobName=job_name)
    job = wait_for_job(sagemaker, job_name, timeout=60)
    assert statuses(job)[-3:] == ["Stopping", "Uploading", "Stopped"]
    assert read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"]) == SLEEPER_MODEL


def test_endpoint_stops_promptly_with_jobs_in_grace(tmp_path: Path, docker_client: Any) -> None:
    # Jobs in a 600 s grace: an endpoint that waited them out would be SIGKILLed by
    # EndpointProcess after 90 s (exit code -9) and leave their containers behind.
    with EndpointProcess(tmp_path / "state", "--grace-period", "600s") as ep:
        sagemaker = ep.client("sagemaker")
        ep.client("s3").create_bucket(Bucket="grace")
        for n in range(2):
            sagemaker.create_training_job(**sleeper_request(f"grace-{n}", "grace"))
        for n in range(2):
            wait_for_status(sagemaker, f"grace-{n}", "Training")
            assert interrupt_job(ep, f"grace-{n}")[0] == 200
        time.sleep(1)
    assert ep.process is not None and ep.process.returncode == 0
    label = {"label": f"smemu.server={ep.server_id}"}
    assert not docker_client.containers.list(all=True, filters=label, ignore_removed=True)
    assert not docker_client.networks.list(filters=label)
    assert not (tmp_path / "state" / "work" / ep.server_id).exists()
