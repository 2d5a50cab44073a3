"""What `smemu run` sends, counted in a real endpoint's access log (`smemu serve --verbose`):
one health check (it was asked twice: once to find the endpoint, once for its S3), and for a
bucket that is there one signed HEAD and no S3 client (the command never imports boto3)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess

pytestmark = pytest.mark.docker


def _requests(log: str) -> list[str]:
    """The request lines ("GET /path HTTP/1.1") of the access log's lines."""
    return [line.split('"')[1] for line in log.splitlines()
            if "emulator.server.access" in line and line.count('"') >= 2]


def test_run_asks_health_once_and_checks_a_bucket_with_one_head_without_an_s3_client(
        tmp_path: Path, docker_client: Any, job_name: str) -> None:
    with EndpointProcess(tmp_path / "state", "--verbose") as endpoint:
        bucket = f"test-{uuid.uuid4().hex[:12]}"
        endpoint.client("s3").create_bucket(Bucket=bucket)
        before = len(endpoint.log_text())
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "emulator", "run",
             "--endpoint-url", endpoint.url, "--image", TOY_IMAGE, "--job-name", job_name,
             "--no-logs", "--output-path", f"s3://{bucket}/output",
             "-H", "total_steps=1", "-H", "seconds_per_step=0"],
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"Job {job_name}: Completed" in result.stdout
        sent = _requests(endpoint.log_text()[before:])
    assert sent.count("GET /_smemu/health HTTP/1.1") == 1, sent
    assert sent.count(f"HEAD /{bucket} HTTP/1.1") == 1, sent
    assert not any(f"PUT /{bucket} " in line for line in sent)  # there: not created again
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "botocore.session" in imported  # -X importtime did list the imports
    assert not {"boto3", "s3transfer"} & imported, "an S3 client was made for the check"
