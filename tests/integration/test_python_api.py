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
                                             filters={"label": f"smemu.server={server_id}"},
                                                     ignore_removed=True)
    assert not (tmp_path / "work" / server_id).exists()


IN_PROCESS = """
import tempfile, boto3
from emulator import EndpointServer
with EndpointServer(port=0, state_dir=tempfile.mkdtemp()) as ep:  # a str, as mkdtemp gives
    sm = boto3.client("sagemaker", endpoint_url=ep.url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    for _ in range(3):
        sm.list_training_jobs()
    print(ep.state_dir)
"""


def test_in_process_endpoint_takes_a_str_path_and_keeps_the_callers_stderr_clean(
        tmp_path: Path, docker_client: Any) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", IN_PROCESS], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(tmp_path))
    assert result.stderr == "", "the endpoint wrote to its caller's stderr:\n" + result.stderr
