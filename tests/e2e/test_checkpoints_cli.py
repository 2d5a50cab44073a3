"""smemu checkpoints ls / get against a real endpoint: an interrupted toy job's checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def interrupted_job(endpoint: EndpointProcess) -> dict[str, Any]:
    """One spot job interrupted once, resumed to Completed; checkpoints versioned."""
    s3, sagemaker = endpoint.client("s3"), endpoint.client("sagemaker")
    bucket = "ckpt-cli-e2e"
    s3.create_bucket(Bucket=bucket)
    name = "ckpt-cli-e2e-job"
    request = toy_request(name, steps=40, checkpoint_uri=f"s3://{bucket}/ckpt", bucket=bucket,
                          tags=[{"Key": "smemu:interrupt", "Value": "after=1.5s"},
                                {"Key": "smemu:grace-period", "Value": "10s"}],
                          seconds_per_step="0.1", checkpoint_interval="3")
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return {"name": name, "bucket": bucket, "uri": f"s3://{bucket}/ckpt",
            "report": endpoint.report(name)}


def _ls(endpoint: EndpointProcess, *args: str) -> dict[str, Any]:
    result = smemu("checkpoints", "ls", *args, "--json", "--endpoint-url", endpoint.url)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_ls_shows_current_files_with_the_last_attempt(endpoint: EndpointProcess,
                                                      interrupted_job: dict[str, Any]) -> None:
    listed = _ls(endpoint, interrupted_job["name"])
    assert listed["S3Uri"] == interrupted_job["uri"] + "/"
    files = {f["Path"]: f for f in listed["Files"]}
    assert list(files) == ["checkpoint.json"]
    last = len(interrupted_job["report"]["Attempts"])
    assert last == 2
    assert files["checkpoint.json"]["Attempt"] == last
    assert files["checkpoint.json"]["Job"] == interrupted_job["name"]
    text = smemu("checkpoints", "ls", interrupted_job["name"], "--endpoint-url", endpoint.url)
    assert text.returncode == 0, text.stderr
    row = [line for line in text.stdout.splitlines() if line.startswith("checkpoint.json")]
    assert len(row) == 1 and row[0].split()[-1] == str(last)


def test_versions_come_from_both_attempts_and_get_fetches_an_old_one(
        endpoint: EndpointProcess, interrupted_job: dict[str, Any], tmp_path: Path) -> None:
    versions = _ls(endpoint, interrupted_job["name"], "--versions")["Versions"]
    ckpt = [v for v in versions if v["Path"] == "checkpoint.json" and not v["DeleteMarker"]]
    uploads = [u for a in interrupted_job["report"]["Attempts"] for u in a["CheckpointsUploaded"]
               if u["path"] == "checkpoint.json"]
    assert len(ckpt) == len(uploads) >= 3
    assert {v["Attempt"] for v in ckpt} == {1, 2}
    assert [v["Attempt"] for v in ckpt] == sorted(v["Attempt"] for v in ckpt)  # oldest first
    assert [v["Sha256"] for v in ckpt] == [u["sha256"] for u in uploads]
    assert sum(v["IsLatest"] for v in ckpt) == 1 and ckpt[-1]["IsLatest"]

    out = tmp_path / "early.json"
    got = smemu("checkpoints", "get", interrupted_job["name"], "checkpoint.json",
                "--version", ckpt[0]["VersionId"], "-o", str(out), "--endpoint-url", endpoint.url)
    assert got.returncode == 0, got.stderr
    early = json.loads(out.read_text())
    current = smemu("checkpoints", "get", interrupted_job["uri"], "checkpoint.json",
                    "--endpoint-url", endpoint.url)
    assert current.returncode == 0, current.stderr
    final = json.loads(current.stdout)
    assert early["step"] < final["step"]
    # The S3 URI form finds the job that wrote there.
    by_uri = _ls(endpoint, interrupted_job["uri"], "--versions")["Versions"]
    assert [v["Attempt"] for v in by_uri] == [v["Attempt"] for v in versions]


@pytest.mark.parametrize(("args", "message"), [
    (["ls", "no-such-job-xyz"], "no training job named 'no-such-job-xyz'"),
    (["get", "{job}", "nope.bin"], "no checkpoint file 'nope.bin' under s3://ckpt-cli-e2e/ckpt/"),
    (["get", "{job}", "checkpoint.json", "--version", "bogus"], "has no version 'bogus'"),
    (["ls", "s3://no-such-bucket-xyz/p"], "bucket 'no-such-bucket-xyz'"),
])
def test_clear_one_line_errors(endpoint: EndpointProcess, interrupted_job: dict[str, Any],
                               args: list[str], message: str) -> None:
    args = [a.replace("{job}", interrupted_job["name"]) for a in args]
    result = smemu("checkpoints", *args, "--endpoint-url", endpoint.url)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_job_without_checkpoint_config(endpoint: EndpointProcess, bucket: str,
                                         job_name: str) -> None:
    sagemaker = endpoint.client("sagemaker")
    sagemaker.create_training_job(**toy_request(job_name, steps=2, spot=False,
                                                checkpoint_uri=None, bucket=bucket))
    wait_for_job(sagemaker, job_name)
    result = smemu("checkpoints", "ls", job_name, "--endpoint-url", endpoint.url)
    assert result.returncode == 2
    assert f"training job {job_name!r} has no CheckpointConfig" in result.stderr
