"""The report tells the truth about kills of the real toy trainer (temp file + rename): a /hard
kill has no grace window, and the half-written temp file it leaves is not a torn checkpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def test_hard_kill_while_the_toy_trainer_writes_its_2nd_checkpoint_raises_no_false_flags(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    # The kill lands either mid-write of checkpoint.json.tmp (left half-written, flushed to S3)
    # or just after its rename: neither is a torn checkpoint nor a write in a grace window.
    request = toy_request(job_name, steps=20, checkpoint_uri=f"s3://{bucket}/{job_name}",
                          bucket=bucket,
                          tags=[{"Key": "smemu:interrupt", "Value": "checkpoint-write=2/hard"}])
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed"
    first, second = endpoint.report(job_name)["Attempts"][:2]
    assert first["Interruption"] == "checkpoint-write=2/hard"
    assert first["SigKilled"] is True and first["GracePeriodSeconds"] == 0
    assert first["TornFiles"] == [] and first["WrittenDuringGrace"] == []
    assert first["WrittenInPlace"] == []
    assert first["Flags"] == []
    assert first["MirrorVerified"] is True
    assert second["Resume"] == "resumed"  # from the intact checkpoint.json of step 5
