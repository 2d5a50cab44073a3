"""The in-process Python API: an endpoint as a context manager, driven with boto3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.endpoint import CREDENTIALS, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def test_endpoint_server_context_manager(tmp_path: Path, docker_client: Any) -> None:
    from emulator import EndpointServer, JobSettings, parse_plan

    settings = JobSettings(plan=parse_plan("after=1s"), grace_period=5)
    with EndpointServer(port=0, state_dir=tmp_path, defaults=settings) as endpoint:
        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint.url, region_name="us-east-1",
                                **CREDENTIALS)

        client("s3").create_bucket(Bucket="api-bucket")
        sagemaker = client("sagemaker")
        sagemaker.create_training_job(**toy_request(
            "api-job", steps=15, checkpoint_uri="s3://api-bucket/c", bucket="api-bucket"))
        job = wait_for_job(sagemaker, "api-job")
        assert job["TrainingJobStatus"] == "Completed"
        # The server-wide default plan applied: one interruption, then resumed.
        statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
        assert statuses.count("Interrupted") == 1
        server_id = endpoint.server_id
    assert not docker_client.containers.list(all=True,
                                             filters={"label": f"smemu.server={server_id}"})
    assert not (tmp_path / "work" / server_id).exists()
