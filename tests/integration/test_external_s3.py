"""Checkpoints and artifacts on another S3 server (`smemu serve --s3-endpoint-url`)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.support.endpoint import (
    TOY_IMAGE,
    EndpointProcess,
    read_model_tar,
    toy_attempt,
    toy_request,
    toy_value,
    wait_for_job,
)

pytestmark = pytest.mark.docker

# external_s3 and endpoint_on_external: tests/conftest.py


def test_checkpoints_and_model_go_to_the_external_s3(endpoint_on_external: EndpointProcess,
                                                     external_s3: Any, job_name: str) -> None:
    external_s3.create_bucket(Bucket="outside")
    sagemaker = endpoint_on_external.client("sagemaker")
    sagemaker.create_training_job(**toy_request(
        job_name, steps=40, checkpoint_uri=f"s3://outside/ckpt/{job_name}", bucket="outside",
        # at the first upload, not after=1s: CI once interrupted before any checkpoint existed
        tags=[{"Key": "smemu:interrupt", "Value": "checkpoint=1"}]))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed"
    model = json.loads(read_model_tar(external_s3,
                                      job["ModelArtifacts"]["S3ModelArtifacts"])["model.json"])
    assert model["value"] == toy_value(40) and toy_attempt(external_s3, job)["resumed_from"]
    keys = [o["Key"] for o in external_s3.list_objects_v2(
        Bucket="outside", Prefix="ckpt/")["Contents"]]
    assert keys == [f"ckpt/{job_name}/checkpoint.json"]
    # The embedded S3 never saw the bucket.
    embedded = endpoint_on_external.client("s3")
    assert "outside" not in [b["Name"] for b in embedded.list_buckets()["Buckets"]]


def test_smemu_run_creates_its_buckets_on_the_external_s3(endpoint_on_external: EndpointProcess,
                                                          external_s3: Any,
                                                          job_name: str) -> None:
    bucket = f"run-{job_name}"[:63].lower()
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint_on_external.url,
         "--image", TOY_IMAGE, "--job-name", job_name, "--output-path", f"s3://{bucket}/out",
         "--checkpoint-s3-uri", f"s3://{bucket}/ckpt", "-H", "total_steps=6",
         "-H", "seconds_per_step=0.05", "--no-logs"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"created bucket s3://{bucket} on {external_s3.meta.endpoint_url}" in result.stdout
    keys = [o["Key"] for o in external_s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "ckpt/checkpoint.json" in keys and f"out/{job_name}/output/model.tar.gz" in keys
    embedded = endpoint_on_external.client("s3")
    assert bucket not in [b["Name"] for b in embedded.list_buckets()["Buckets"]]
