"""Real Docker, the real endpoint over HTTP, the toy trainer: interruptions and resume."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.support.endpoint import (
    EndpointProcess,
    read_model_tar,
    toy_attempt,
    toy_request,
    toy_value,
    wait_for_job,
)

pytestmark = pytest.mark.docker

# Right after each attempt's first upload: a slow container start (a loaded CI machine) cannot
# make an attempt end before it has checkpointed.
TWO_INTERRUPTIONS = [{"Key": "smemu:interrupt", "Value": "checkpoint=1 checkpoint=1"}]


def model_of(s3: Any, job: dict[str, Any]) -> dict[str, Any]:
    files = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    return dict(json.loads(files["model.json"]))


def statuses(job: dict[str, Any]) -> list[str]:
    return [t["Status"] for t in job["SecondaryStatusTransitions"]]


def test_two_interruptions_resume_and_complete(endpoint: EndpointProcess, sagemaker: Any,
                                               s3: Any, bucket: str, job_name: str,
                                               docker_client: Any) -> None:
    uri = f"s3://{bucket}/checkpoints/{job_name}"
    sagemaker.create_training_job(**toy_request(job_name, steps=40, checkpoint_uri=uri,
                                                bucket=bucket, tags=TWO_INTERRUPTIONS))
    job = wait_for_job(sagemaker, job_name)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert statuses(job) == [
        "Starting", "Downloading", "Training", "Interrupted",
        "Starting", "Downloading", "Training", "Interrupted",
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]
    assert all("StatusMessage" in t for t in job["SecondaryStatusTransitions"])
    assert job["TrainingJobArn"].endswith(f"training-job/{job_name.lower()}")
    # Each attempt has a fresh /opt/ml/model (a new instance): what the interrupted attempts saved
    # on SIGTERM (model-at-sigterm.json) is not in the final model.
    assert set(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])) == {"model.json"}
    model = model_of(s3, job)
    # Resumed, not restarted: the last attempt ran only the remaining steps and the result
    # equals an uninterrupted run's.
    assert model["step"] == 40
    assert model["value"] == toy_value(40)
    assert set(model) == {"step", "value"}  # bookkeeping stays out of the model
    attempt = toy_attempt(s3, job)
    assert attempt["resumed_from"] is not None and attempt["resumed_from"] > 0
    assert attempt["steps_run_this_attempt"] < 40

    report = endpoint.report(job_name)
    attempts = report["Attempts"]
    assert [a["Outcome"] for a in attempts] == ["interrupted", "interrupted", "completed"]
    assert attempts[0]["CheckpointsRestored"] == []
    assert attempts[1]["CheckpointsRestored"] and attempts[2]["CheckpointsRestored"]
    assert all(a["CheckpointsUploaded"] for a in attempts)
    # Resume verification, generic (inotify): later attempts read the restored checkpoint.
    assert [a["Resume"] for a in attempts] == ["fresh-start", "resumed", "resumed"]
    assert attempts[1]["RestoredFilesRead"] == ["checkpoint.json"]
    assert all(a["LostTrainingSeconds"] is not None for a in attempts[:2])
    assert not any("scratch" in f for a in attempts for f in a["Flags"])
    # The toy trainer checkpoints on SIGTERM: written during the grace window, atomically.
    assert "checkpoint.json" in attempts[0]["WrittenDuringGrace"]
    assert attempts[0]["WrittenInPlace"] == []
    assert [a["MirrorVerified"] for a in attempts] == [True, True, True]
    # How long each proof took, and each checkpoint upload (what `bench e2e` compares).
    assert all(isinstance(a["ProofSeconds"], float) and a["ProofSeconds"] >= 0 for a in attempts)
    assert all(isinstance(u["seconds"], float) for a in attempts for u in a["CheckpointsUploaded"])
    # Billing across attempts, spot discount applied.
    assert job["TrainingTimeInSeconds"] >= 4
    assert job["BillableTimeInSeconds"] == math.ceil(job["TrainingTimeInSeconds"] * 0.3)

    # S3 holds the final checkpoint, byte for byte what the trainer writes at step 40.
    expected = json.dumps({"step": 40, "value": toy_value(40)}, sort_keys=True,
                          separators=(",", ":")).encode()
    key = f"checkpoints/{job_name}/checkpoint.json"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read().strip() == expected
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"checkpoints/{job_name}/")
    assert [o["Key"] for o in listed["Contents"]] == [key]  # no temp files left in S3

    # Nothing left behind by this job.
    assert not docker_client.containers.list(all=True, filters={"label": f"smemu.job={job_name}"},
            ignore_removed=True)
    assert not docker_client.networks.list(filters={"label": f"smemu.job={job_name}"})


def test_restart_from_scratch_is_visible(endpoint: EndpointProcess, sagemaker: Any, s3: Any,
                                         bucket: str, job_name: str) -> None:
    uri = f"s3://{bucket}/checkpoints/{job_name}"
    sagemaker.create_training_job(**toy_request(
        job_name, steps=30, checkpoint_uri=uri, bucket=bucket, tags=TWO_INTERRUPTIONS,
        ignore_checkpoints="true"))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed"
    assert model_of(s3, job) == {"step": 30, "value": toy_value(30)}
    # Checkpoints were restored into the container, yet it started from step 0.
    report = endpoint.report(job_name)
    assert report["Attempts"][-1]["CheckpointsRestored"]
    assert [a["Resume"] for a in report["Attempts"]][1:] == ["restarted-from-scratch"] * 2
    assert any("restarted from scratch" in f for f in report["Attempts"][1]["Flags"])
    assert toy_attempt(s3, job) == {"resumed_from": None, "steps_run_this_attempt": 30}


def test_failing_container_reports_failure_reason(sagemaker: Any, bucket: str,
                                                  job_name: str) -> None:
    sagemaker.create_training_job(**toy_request(job_name, steps=20, checkpoint_uri=None,
                                                bucket=bucket, spot=False, fail_at_step="3"))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: simulated failure at step 3")


def test_second_job_resumes_from_first_jobs_checkpoints(sagemaker: Any, s3: Any, bucket: str,
                                                       job_name: str) -> None:
    uri = f"s3://{bucket}/shared-checkpoints"
    first, second = f"{job_name}-a", f"{job_name}-b"
    sagemaker.create_training_job(**toy_request(first, steps=10, checkpoint_uri=uri,
                                                bucket=bucket, spot=False))
    assert wait_for_job(sagemaker, first)["TrainingJobStatus"] == "Completed"
    sagemaker.create_training_job(**toy_request(second, steps=20, checkpoint_uri=uri,
                                                bucket=bucket, spot=False))
    job = wait_for_job(sagemaker, second)
    assert job["TrainingJobStatus"] == "Completed"
    model = model_of(s3, job)
    assert toy_attempt(s3, job) == {"resumed_from": 10, "steps_run_this_attempt": 10}
    assert model["value"] == toy_value(20)
