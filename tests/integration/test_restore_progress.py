"""A restore or a channel download above 64 MiB reports its progress in the Downloading
StatusMessage, and `smemu run` prints it: as a live bar and with a coloured timeline at the end on
a terminal, as plain lines when piped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess, toy_request, wait_for_job
from tests.support.terminal import run_in_terminal

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


def test_a_large_channel_download_reports_progress_too(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    s3.put_object(Bucket=bucket, Key="train/part-0.bin", Body=os.urandom(40 * MiB))
    s3.put_object(Bucket=bucket, Key="train/part-1.bin", Body=os.urandom(30 * MiB))
    request = toy_request(job_name, steps=2, spot=False, checkpoint_uri=None, bucket=bucket)
    request["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train/"}}}]
    sagemaker.create_training_job(**request)
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Completed"
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    (downloading,) = [t for t in job["SecondaryStatusTransitions"]
                      if t["Status"] == "Downloading"]
    assert re.fullmatch(r"Downloading channel train: done, 2 files, 70\.0 MiB in \d+\.\d s "
                        r"\(.+/s\)", downloading["StatusMessage"]), downloading


def test_on_a_terminal_smemu_run_draws_bars_and_a_coloured_timeline_piped_it_stays_plain(
        endpoint: EndpointProcess, s3: Any, bucket: str, job_name: str) -> None:
    # Big enough that the follow loop sees the restore under way, however loaded the machine.
    s3.put_object(Bucket=bucket, Key="ckpt/weights.bin", Body=os.urandom(150 * MiB))
    args = [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
            "--image", TOY_IMAGE, "--checkpoint-s3-uri", f"s3://{bucket}/ckpt",
            "-H", "total_steps=2", "-H", "seconds_per_step=0.1"]
    code, shown = run_in_terminal([*args, "--job-name", job_name])
    assert code == 0, shown
    assert "\x1b[" in shown  # colours and the live bar
    assert "Restoring checkpoints" in shown and "/157.3 MB" in shown, shown  # the bar's bytes
    assert re.search(r"attempt 1 algo-1 .*completed", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "",
                                                              shown)), shown
    piped = subprocess.run([*args, "--job-name", f"{job_name}-piped"], capture_output=True,
                           text=True, timeout=300, env=dict(os.environ))
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stdout + piped.stderr
    assert re.search(rf"^    {DONE.replace('65', '150')}$", piped.stdout, re.MULTILINE), \
        piped.stdout
    assert "attempt 1 algo-1 " not in piped.stdout  # the coloured timeline is the terminal's
