"""MaxRuntimeInSeconds, ManifestFile channels, output.tar.gz, and logs through the AWS CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, read_model_tar, toy_request, wait_for_job
from tests.support.images import build_script_image

pytestmark = pytest.mark.docker

CHANNEL_IMAGE = "smemu-test-channels:latest"
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


def test_max_runtime_stops_the_job_and_keeps_the_model(sagemaker: Any, s3: Any, bucket: str,
                                                       job_name: str) -> None:
    request = toy_request(job_name, steps=1000, checkpoint_uri=None, bucket=bucket, spot=False)
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 2}
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-3:] == [
        "Stopping", "Uploading", "MaxRuntimeExceeded"]
    assert 2 <= job["TrainingTimeInSeconds"] <= 30
    bucket_name, _, key = job["ModelArtifacts"]["S3ModelArtifacts"][5:].partition("/")
    assert s3.head_object(Bucket=bucket_name, Key=key)["ContentLength"] > 0


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


def test_aws_cli_reads_the_job_logs(endpoint: EndpointProcess, sagemaker: Any, bucket: str,
                                    job_name: str, tmp_path: Path) -> None:
    sagemaker.create_training_job(**toy_request(job_name, steps=3, checkpoint_uri=None,
                                                bucket=bucket, spot=False))
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Completed"
    aws = str(Path(sys.executable).with_name("aws"))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none")}
    base = [aws, "--endpoint-url", endpoint.url, "--output", "json", "logs"]
    streams = json.loads(subprocess.run(
        [*base, "describe-log-streams", "--log-group-name", "/aws/sagemaker/TrainingJobs",
         "--log-stream-name-prefix", f"{job_name}/"],
        capture_output=True, text=True, check=True, env=env).stdout)["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{job_name}/algo-1-")
    events = json.loads(subprocess.run(
        [*base, "get-log-events", "--log-group-name", "/aws/sagemaker/TrainingJobs",
         "--log-stream-name", streams[0]["logStreamName"], "--start-from-head"],
        capture_output=True, text=True, check=True, env=env).stdout)["events"]
    assert "training complete: step 3" in "\n".join(e["message"] for e in events)


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
