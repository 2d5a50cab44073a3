"""Checkpoints and artifacts on another S3 server (`smemu serve --s3-endpoint-url`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.endpoint import (
    CREDENTIALS,
    EndpointProcess,
    free_port,
    read_model_tar,
    toy_request,
    toy_value,
    wait_for_job,
)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def external_s3() -> Iterator[Any]:
    """A second, independent S3 server process-side (its own state), on loopback."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       **CREDENTIALS)
    server.stop()


@pytest.fixture(scope="module")
def endpoint_on_external(tmp_path_factory: pytest.TempPathFactory, external_s3: Any,
                         docker_client: Any) -> Iterator[EndpointProcess]:
    state: Path = tmp_path_factory.mktemp("external")
    with EndpointProcess(state, "--s3-endpoint-url", external_s3.meta.endpoint_url,
                         "--grace-period", "10s") as ep:
        yield ep


def test_checkpoints_and_model_go_to_the_external_s3(endpoint_on_external: EndpointProcess,
                                                     external_s3: Any, job_name: str) -> None:
    external_s3.create_bucket(Bucket="outside")
    sagemaker = endpoint_on_external.client("sagemaker")
    sagemaker.create_training_job(**toy_request(
        job_name, steps=20, checkpoint_uri=f"s3://outside/ckpt/{job_name}", bucket="outside",
        tags=[{"Key": "smemu:interrupt", "Value": "after=1s"}]))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed"
    model = json.loads(read_model_tar(external_s3,
                                      job["ModelArtifacts"]["S3ModelArtifacts"])["model.json"])
    assert model["value"] == toy_value(20) and model["resumed_from"]
    keys = [o["Key"] for o in external_s3.list_objects_v2(
        Bucket="outside", Prefix="ckpt/")["Contents"]]
    assert keys == [f"ckpt/{job_name}/checkpoint.json"]
    # The embedded S3 never saw the bucket.
    embedded = endpoint_on_external.client("s3")
    assert "outside" not in [b["Name"] for b in embedded.list_buckets()["Buckets"]]
