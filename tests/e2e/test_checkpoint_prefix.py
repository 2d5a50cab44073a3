"""A checkpoint S3Uri without a trailing '/' is a string prefix, as on SageMaker: `smemu run`
restores the sibling prefixes' objects too (s3://b/trial-1 brings trial-10 and trial-11 down)
and flags them with the fix; `--checkpoint-prefix directory` restores only trial-1/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess

pytestmark = pytest.mark.docker

LIST_CHECKPOINTS = ("cd /opt/ml/checkpoints && find . -type f ! -name '*.sagemaker-*' | sort "
                    "| sed 's/^/ckpt: /'")
SEEDED = {
    "trial-1/checkpoint.json": b'{"trial": 1}',
    "trial-10/checkpoint.json": b'{"trial": 10}',
    "trial-11/deep/state.pt": b"eleven",
    "trial-2/checkpoint.json": b'{"trial": 2}',
}


def _run(endpoint: EndpointProcess, tmp_path: Path, name: str, uri: str,
         *flags: str) -> subprocess.CompletedProcess[str]:
    request = tmp_path / f"{name}.json"
    request.write_text(json.dumps({"AlgorithmSpecification": {
        "TrainingImage": "smemu-base:latest", "TrainingInputMode": "File",
        "ContainerEntrypoint": ["sh", "-c", LIST_CHECKPOINTS]}}))
    return subprocess.run(
        [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
         "--request", str(request), "--job-name", name, "--checkpoint-s3-uri", uri, *flags],
        capture_output=True, text=True, timeout=300, env=dict(os.environ))


def _seed(s3: Any, bucket: str) -> None:
    for key, body in SEEDED.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_sibling_prefixes_are_restored_and_flagged(endpoint: EndpointProcess, s3: Any,
                                                  bucket: str, job_name: str,
                                                  tmp_path: Path) -> None:
    _seed(s3, bucket)
    result = _run(endpoint, tmp_path, job_name, f"s3://{bucket}/trial-1")
    assert result.returncode == 0, result.stderr
    listed = [line.split("ckpt: ", 1)[1] for line in result.stdout.splitlines()
              if "ckpt: " in line]
    # The key minus the prefix string, a leading '/' dropped: trial-10/x lands as 0/x.
    assert listed == ["./0/checkpoint.json", "./1/deep/state.pt", "./checkpoint.json"]
    flag = next(line for line in result.stdout.splitlines() if "other prefixes" in line)
    assert f"s3://{bucket}/trial-10, s3://{bucket}/trial-11 start with" in flag
    assert "end CheckpointConfig.S3Uri with '/'" in flag
    assert "trial-2" not in flag

    report = endpoint.report(job_name)
    assert report["Attempts"][0]["RestoredSiblingPrefixes"] == [
        f"s3://{bucket}/trial-10", f"s3://{bucket}/trial-11"]


@pytest.mark.parametrize("how", ["trailing-slash", "directory-setting"])
def test_own_prefix_only(endpoint: EndpointProcess, s3: Any, bucket: str, job_name: str,
                         tmp_path: Path, how: str) -> None:
    _seed(s3, bucket)
    if how == "trailing-slash":
        result = _run(endpoint, tmp_path, job_name, f"s3://{bucket}/trial-1/")
    else:
        result = _run(endpoint, tmp_path, job_name, f"s3://{bucket}/trial-1",
                      "--checkpoint-prefix", "directory")
    assert result.returncode == 0, result.stderr
    listed = [line.split("ckpt: ", 1)[1] for line in result.stdout.splitlines()
              if "ckpt: " in line]
    assert listed == ["./checkpoint.json"]
    assert "other prefixes" not in result.stdout
