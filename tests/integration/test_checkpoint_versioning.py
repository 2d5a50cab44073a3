"""The embedded S3 keeps every uploaded version of a job's checkpoints, unless the endpoint runs
with `smemu serve --no-checkpoint-versioning`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def unversioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    state: Path = tmp_path_factory.mktemp("unversioned")
    with EndpointProcess(state, "--no-checkpoint-versioning", "--grace-period", "10s") as ep:
        yield ep


def checkpoint_versions(endpoint: EndpointProcess, bucket: str, name: str) -> dict[str, Any]:
    """Run a toy job that writes checkpoint.json 4 times; its bucket's versioning and versions."""
    sagemaker, s3 = endpoint.client("sagemaker"), endpoint.client("s3")
    s3.create_bucket(Bucket=bucket)
    sagemaker.create_training_job(**toy_request(name, steps=20, spot=False, bucket=bucket,
                                                checkpoint_uri=f"s3://{bucket}/ckpt",
                                                seconds_per_step="0.2"))
    assert wait_for_job(sagemaker, name)["TrainingJobStatus"] == "Completed"
    listed = s3.list_object_versions(Bucket=bucket, Prefix="ckpt/")
    return {"status": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
            "versions": [(v["Key"], v["VersionId"]) for v in listed.get("Versions", [])]}


def test_versions_are_kept_by_default(endpoint: EndpointProcess, job_name: str) -> None:
    seen = checkpoint_versions(endpoint, f"v-{job_name[-6:]}", job_name)
    assert seen["status"] == "Enabled"
    # Written at steps 5, 10, 15 and 20: a rewrite during an upload may fold two into one.
    assert {key for key, _ in seen["versions"]} == {"ckpt/checkpoint.json"}
    assert len({version for _, version in seen["versions"]}) >= 2


def test_no_checkpoint_versioning_keeps_only_the_current_file(unversioned: EndpointProcess,
                                                              job_name: str) -> None:
    seen = checkpoint_versions(unversioned, f"u-{job_name[-6:]}", job_name)
    assert seen["status"] is None  # versioning was never turned on for the bucket
    assert seen["versions"] == [("ckpt/checkpoint.json", "null")]
