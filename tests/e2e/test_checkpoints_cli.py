"""smemu checkpoints ls / get against a real endpoint: an interrupted toy job's checkpoints,
on the embedded S3 and on a second S3 server (`smemu serve --s3-endpoint-url`)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import EndpointProcess, free_port, toy_request, wait_for_job
from tests.support.s3_standin import S3StandinContainer

pytestmark = pytest.mark.docker


def _run_interrupted_job(endpoint: EndpointProcess, s3: Any, bucket: str,
                         name: str) -> dict[str, Any]:
    """One spot job interrupted once, resumed to Completed, its checkpoints in `bucket`."""
    sagemaker = endpoint.client("sagemaker")
    # Interrupted after its 2nd upload (step 6 of 40), not after a time: a trainer slow to
    # start on a loaded machine might otherwise be near its end, leaving attempt 2 nothing to
    # checkpoint.
    request = toy_request(name, steps=40, checkpoint_uri=f"s3://{bucket}/ckpt", bucket=bucket,
                          tags=[{"Key": "smemu:interrupt", "Value": "checkpoint=2"},
                                {"Key": "smemu:grace-period", "Value": "10s"}],
                          seconds_per_step="0.1", checkpoint_interval="3")
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return {"name": name, "bucket": bucket, "uri": f"s3://{bucket}/ckpt",
            "report": endpoint.report(name)}


@pytest.fixture(scope="module")
def interrupted_job(endpoint: EndpointProcess) -> dict[str, Any]:
    """On the embedded S3, which keeps every checkpoint version."""
    s3 = endpoint.client("s3")
    s3.create_bucket(Bucket="ckpt-cli-e2e")
    return _run_interrupted_job(endpoint, s3, "ckpt-cli-e2e", "ckpt-cli-e2e-job")


@pytest.fixture(scope="module")
def external_job(endpoint_on_external: EndpointProcess, external_s3: Any) -> dict[str, Any]:
    """On the endpoint's external S3, in a bucket with versioning turned on by hand."""
    bucket = "ckpt-cli-external"
    external_s3.create_bucket(Bucket=bucket)
    external_s3.put_bucket_versioning(Bucket=bucket,
                                      VersioningConfiguration={"Status": "Enabled"})
    return _run_interrupted_job(endpoint_on_external, external_s3, bucket,
                                "ckpt-cli-external-job")


@pytest.fixture(scope="module")
def s3_without_versions() -> Iterator[str]:
    """A third S3 server, without ListObjectVersions: `rclone serve s3` (a throwaway container
    of smemu-s3-standin, keyed with the CLI's default credentials): its URL."""
    with S3StandinContainer(access_key="smemu", secret_key="smemu") as server:
        client = server.client()
        client.create_bucket(Bucket="plain")
        client.put_object(Bucket="plain", Key="ckpt/model.pt", Body=b"weights")
        yield server.url


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


def _versions_match_the_uploads(versions: list[dict[str, Any]], job: dict[str, Any]) -> list[
        dict[str, Any]]:
    ckpt = [v for v in versions if v["Path"] == "checkpoint.json" and not v["DeleteMarker"]]
    uploads = [u for a in job["report"]["Attempts"] for u in a["CheckpointsUploaded"]
               if u["path"] == "checkpoint.json"]
    assert len(ckpt) == len(uploads) >= 3
    assert {v["Attempt"] for v in ckpt} == {1, 2}
    assert [v["Sha256"] for v in ckpt] == [u["sha256"] for u in uploads]
    return ckpt


def test_a_jobs_checkpoints_on_the_endpoints_external_s3(
        endpoint_on_external: EndpointProcess, external_s3: Any, external_job: dict[str, Any],
        tmp_path: Path) -> None:
    with urllib.request.urlopen(f"{endpoint_on_external.url}/_smemu/health") as r:
        assert json.loads(r.read())["s3_endpoint_url"] == external_s3.meta.endpoint_url
    embedded = endpoint_on_external.client("s3")
    assert external_job["bucket"] not in [b["Name"] for b in embedded.list_buckets()["Buckets"]]

    listed = _ls(endpoint_on_external, external_job["name"])
    assert listed["S3Uri"] == external_job["uri"] + "/"
    assert [(f["Path"], f["Attempt"]) for f in listed["Files"]] == [("checkpoint.json", 2)], \
        (listed, external_job["report"]["Attempts"])
    ckpt = _versions_match_the_uploads(
        _ls(endpoint_on_external, external_job["name"], "--versions")["Versions"], external_job)

    out = tmp_path / "early.json"
    got = smemu("checkpoints", "get", external_job["name"], "checkpoint.json", "--version",
                ckpt[0]["VersionId"], "-o", str(out), "--endpoint-url", endpoint_on_external.url)
    assert got.returncode == 0, got.stderr
    current = smemu("checkpoints", "get", external_job["name"], "checkpoint.json",
                    "--endpoint-url", endpoint_on_external.url)
    assert current.returncode == 0, current.stderr
    assert json.loads(out.read_text())["step"] < json.loads(current.stdout)["step"]
    # An S3 URI is looked up on the endpoint's S3 too, and finds the job that wrote there.
    by_uri = _ls(endpoint_on_external, external_job["uri"])
    assert by_uri["Jobs"] == [external_job["name"]] and by_uri["Files"] == listed["Files"]


def test_an_s3_uri_on_a_named_s3_server_needs_no_endpoint(
        external_s3: Any, external_job: dict[str, Any]) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    where = ["--s3-endpoint-url", external_s3.meta.endpoint_url, "--endpoint-url", nobody]
    listed = smemu("checkpoints", "ls", external_job["uri"], "--versions", "--json", *where)
    assert listed.returncode == 0, listed.stderr
    versions = json.loads(listed.stdout)["Versions"]
    assert len(versions) >= 3 and {v["Attempt"] for v in versions} == {None}
    text = smemu("checkpoints", "ls", external_job["uri"], *where)
    assert text.returncode == 0 and "checkpoint.json" in text.stdout
    assert "no smemu endpoint answers" in text.stderr
    got = smemu("checkpoints", "get", external_job["uri"], "checkpoint.json", *where)
    assert got.returncode == 0, got.stderr
    stored = external_s3.get_object(Bucket=external_job["bucket"], Key="ckpt/checkpoint.json")
    assert got.stdout.encode() == stored["Body"].read()


def test_a_server_without_versions_lists_current_files(s3_without_versions: str) -> None:
    listed = smemu("checkpoints", "ls", "s3://plain/ckpt", "--json",
                   "--s3-endpoint-url", s3_without_versions)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["Versioned"] is False
    assert [(f["Path"], f["Size"]) for f in doc["Files"]] == [("model.pt", 7)]
    got = smemu("checkpoints", "get", "s3://plain/ckpt", "model.pt",
                "--s3-endpoint-url", s3_without_versions)
    assert got.returncode == 0 and got.stdout == "weights"


@pytest.mark.parametrize(("args", "message"), [
    (["ls", "s3://plain/ckpt", "--versions", "--s3-endpoint-url", "{plain}"],
     "the S3 server at {plain} keeps no object versions"),
    (["get", "s3://plain/ckpt", "model.pt", "--version", "v1", "--s3-endpoint-url", "{plain}"],
     "the S3 server at {plain} keeps no object versions"),
    (["ls", "s3://plain/ckpt", "--s3-endpoint-url", "{nobody}"],
     "no S3 server answers at {nobody}"),
    (["get", "s3://plain/ckpt", "model.pt", "--s3-endpoint-url", "{nobody}"],
     "no S3 server answers at {nobody}"),
    (["ls", "s3://no-such-bucket-xyz/p", "--s3-endpoint-url", "{plain}"],
     "bucket 'no-such-bucket-xyz' of s3://no-such-bucket-xyz/p/ does not exist on the S3 "
     "server at {plain}"),
    (["ls", "s3:///p", "--s3-endpoint-url", "{plain}"], "S3 URI has no bucket: 's3:///p'"),
    (["ls", "https://plain/ckpt", "--s3-endpoint-url", "{plain}"], "not an S3 URI"),
])
def test_clear_one_line_errors_on_other_s3_servers(s3_without_versions: str, args: list[str],
                                                   message: str) -> None:
    values = {"plain": s3_without_versions, "nobody": f"http://127.0.0.1:{free_port()}"}
    args = [a.format(**values) for a in args]
    message = message.format(**values) if "{" in message else message
    result = smemu("checkpoints", *args, "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
