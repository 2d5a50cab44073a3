"""The job history outlives the endpoint: a later `smemu serve` on the same state directory
answers Describe, List, ListTags, the report and `smemu logs` for jobs an earlier one ran;
`--ephemeral` keeps nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, sleeper_request, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def smemu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


def _without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_a_restarted_endpoint_still_knows_its_jobs(tmp_path: Path, docker_client: Any) -> None:
    state = tmp_path / "state"
    with EndpointProcess(state, "--grace-period", "5s") as first:
        first.client("s3").create_bucket(Bucket="history")
        sagemaker = first.client("sagemaker")
        request = toy_request("kept-job", steps=8, checkpoint_uri="s3://history/ckpt",
                              bucket="history", tags=[{"Key": "team", "Value": "ml"}])
        sagemaker.create_training_job(**request)
        assert wait_for_job(sagemaker, "kept-job")["TrainingJobStatus"] == "Completed"
        described = _without_metadata(sagemaker.describe_training_job(TrainingJobName="kept-job"))
        report = first.report("kept-job")
        printed = smemu("logs", "kept-job", "--endpoint-url", first.url)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.strip(), "the job printed nothing: the test proves nothing"
    assert list(state.glob("jobs*.sqlite3")), "no job history in the state directory"

    with EndpointProcess(state) as second:
        assert second.server_id != first.server_id
        sagemaker = second.client("sagemaker")
        again = _without_metadata(sagemaker.describe_training_job(TrainingJobName="kept-job"))
        assert again == described
        summaries = sagemaker.list_training_jobs()["TrainingJobSummaries"]
        assert [s["TrainingJobName"] for s in summaries] == ["kept-job"]
        tags = sagemaker.list_tags(ResourceArn=described["TrainingJobArn"])["Tags"]
        assert {"Key": "team", "Value": "ml"} in tags
        assert second.report("kept-job") == report
        reprinted = smemu("logs", "kept-job", "--endpoint-url", second.url)
        assert reprinted.returncode == 0, reprinted.stderr
        assert reprinted.stdout == printed.stdout
        # The name stays taken, as on SageMaker, until the job is deleted.
        with pytest.raises(sagemaker.exceptions.ResourceInUse):
            sagemaker.create_training_job(**request)
        sagemaker.delete_training_job(TrainingJobName="kept-job")

    with EndpointProcess(state) as third:
        assert third.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_ephemeral_keeps_nothing_in_the_state_directory(tmp_path: Path,
                                                        docker_client: Any) -> None:
    state = tmp_path / "state"
    with EndpointProcess(state, "--ephemeral", "--grace-period", "1s") as first:
        first.client("s3").create_bucket(Bucket="blank")
        sagemaker = first.client("sagemaker")
        sagemaker.create_training_job(**sleeper_request("gone-job", "blank"))
        sagemaker.stop_training_job(TrainingJobName="gone-job")
        assert wait_for_job(sagemaker, "gone-job")["TrainingJobStatus"] == "Stopped"
        assert not list(state.glob("jobs*")), "an ephemeral endpoint wrote its history here"
        assert not (state / "work").exists()
        assert not list(state.glob("s3*")), "an ephemeral endpoint kept its objects here"
    for flags in (("--ephemeral",), ()):
        with EndpointProcess(state, *flags) as later:
            assert later.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
            buckets = later.client("s3").list_buckets()["Buckets"]
            assert "blank" not in [b["Name"] for b in buckets]
