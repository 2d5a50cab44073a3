"""A restore above 64 MiB reports its progress in the Downloading StatusMessage, and `smemu run`
prints it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess

pytestmark = pytest.mark.docker

MiB = 1024 * 1024
DONE = r"Restoring checkpoints: done, 1 files, 65\.0 MiB in \d+\.\d s \(.+/s\)"


def test_a_large_restore_reports_progress_in_the_downloading_status(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    s3.put_object(Bucket=bucket, Key="ckpt/weights.bin", Body=os.urandom(65 * MiB))
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
         "--image", TOY_IMAGE, "--job-name", job_name, "--checkpoint-s3-uri",
         f"s3://{bucket}/ckpt", "-H", "total_steps=2", "-H", "seconds_per_step=0.1"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"^    {DONE}$", result.stdout, re.MULTILINE), result.stdout
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    (downloading,) = [t for t in job["SecondaryStatusTransitions"]
                      if t["Status"] == "Downloading"]
    assert re.fullmatch(DONE, downloading["StatusMessage"]), downloading
