"""Input channels as the container sees them (ManifestFile, an empty prefix) and output.tar.gz."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.endpoint import read_model_tar, toy_request, wait_for_job
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

CHANNEL_IMAGE = session_image("smemu-test-channels")
CHANNEL_SCRIPT = textwrap.dedent("""
    import os
    found = []
    for root, _, files in os.walk("/opt/ml/input/data/train"):
        found += [os.path.relpath(os.path.join(root, f), "/opt/ml/input/data/train") for f in files]
    os.makedirs("/opt/ml/output/data", exist_ok=True)
    open("/opt/ml/output/data/found.txt", "w").write("\\n".join(sorted(found)))
    open("/opt/ml/model/ok", "w").write("ok")
    print("channel files:", sorted(found), flush=True)
""")


@pytest.fixture(scope="module")
def channel_image(docker_client: Any) -> Iterator[str]:
    yield build_script_image(docker_client, CHANNEL_IMAGE, CHANNEL_SCRIPT)
    docker_client.images.remove(CHANNEL_IMAGE, force=True)


def test_manifest_channel_and_output_tar(channel_image: str, sagemaker: Any, s3: Any,
                                         bucket: str, job_name: str) -> None:
    for key in ("data/a.csv", "data/sub/b.csv", "data/unlisted.csv"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    manifest = [{"prefix": f"s3://{bucket}/data/"}, "a.csv", "sub/b.csv"]
    s3.put_object(Bucket=bucket, Key="train.manifest", Body=json.dumps(manifest).encode())
    request = toy_request(job_name, checkpoint_uri=None, bucket=bucket, spot=False)
    request["AlgorithmSpecification"]["TrainingImage"] = channel_image
    request["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": f"s3://{bucket}/train.manifest",
        "S3DataDistributionType": "FullyReplicated"}}}]
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    output_uri = job["ModelArtifacts"]["S3ModelArtifacts"].replace("model.tar.gz",
                                                                   "output.tar.gz")
    found = read_model_tar(s3, output_uri)["found.txt"].decode().splitlines()
    assert found == ["a.csv", "sub/b.csv"]  # exactly what the manifest lists


def test_an_empty_channel_fails_the_job_as_a_client_error(sagemaker: Any, bucket: str,
                                                          job_name: str) -> None:
    request = toy_request(job_name, checkpoint_uri=None, bucket=bucket, spot=False)
    request["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/nothing-here/"}}}]
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        f'ClientError: No S3 objects found under S3 URL "s3://{bucket}/nothing-here/" given '
        "in input data source.")
    assert "Training" not in [t["Status"] for t in job["SecondaryStatusTransitions"]]
