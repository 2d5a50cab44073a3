"""`checkpoint=N` counts checkpoints: the toy trainer's atomic temp file (checkpoint.json.tmp,
renamed into place at once) is never uploaded, counted, or left as a deleted version in S3."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def test_checkpoint_trigger_counts_checkpoints_not_the_temp_files_renamed_into_place(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    # A checkpoint every step (50 ms): 60 temp files per attempt, each renamed at once. Before
    # the settle window one of them was now and then uploaded (and counted) mid-rename.
    request = toy_request(job_name, steps=60, checkpoint_uri=f"s3://{bucket}/{job_name}",
                          bucket=bucket, checkpoint_interval="1", seconds_per_step="0.05",
                          tags=[{"Key": "smemu:interrupt", "Value": "checkpoint=3"},
                                {"Key": "smemu:grace-period", "Value": "10s"}])
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed"
    attempts = endpoint.report(job_name)["Attempts"]
    assert attempts[0]["Interruption"] == "checkpoint=3"
    first = [u["path"] for u in attempts[0]["CheckpointsUploaded"]]
    assert first[:3] == ["checkpoint.json"] * 3  # the trigger fired on the 3rd checkpoint
    uploaded = [u["path"] for a in attempts for u in a["CheckpointsUploaded"]]
    assert set(uploaded) == {"checkpoint.json"}, uploaded
    versions = s3.list_object_versions(Bucket=bucket, Prefix=f"{job_name}/")
    keys = {v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])}
    assert keys == {f"{job_name}/checkpoint.json"}  # no `(deleted)` temp file in --versions
    assert all(a["MirrorVerified"] for a in attempts)
