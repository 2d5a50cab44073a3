"""Ctrl-C on `smemu run` stops the job (StopTrainingJob) and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess

pytestmark = pytest.mark.docker


def test_ctrl_c_stops_the_job_and_cleans_up(endpoint: EndpointProcess, sagemaker: Any,
                                            bucket: str, job_name: str,
                                            docker_client: Any) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
         "--image", TOY_IMAGE, "--job-name", job_name, "--checkpoint-s3-uri",
         f"s3://{bucket}/c", "-H", "total_steps=1000", "-H", "seconds_per_step=0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        if "step 3/1000" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1  # the job did not complete
    assert f"Stopping {job_name}" in output
    assert f"Job {job_name}: Stopped (Stopped)" in output
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-3:] == [
        "Stopping", "Uploading", "Stopped"]
    assert not docker_client.containers.list(all=True, filters={"label": f"smemu.job={job_name}"})
    assert not docker_client.networks.list(filters={"label": f"smemu.job={job_name}"})
    assert not (endpoint.state_dir / "work" / endpoint.server_id / job_name).exists()


def test_stopping_the_endpoint_mid_job_removes_everything(tmp_path: Any,
                                                          docker_client: Any) -> None:
    from tests.support.endpoint import toy_request, wait_for_status

    with EndpointProcess(tmp_path / "state") as ep:
        sagemaker = ep.client("sagemaker")
        ep.client("s3").create_bucket(Bucket="shutdown")
        sagemaker.create_training_job(**toy_request(
            "shutdown-job", steps=1000, checkpoint_uri="s3://shutdown/c", bucket="shutdown"))
        wait_for_status(sagemaker, "shutdown-job", "Training")
        label = {"label": f"smemu.server={ep.server_id}"}
        assert docker_client.containers.list(all=True, filters=label)
    assert not docker_client.containers.list(all=True, filters=label)
    assert not docker_client.networks.list(filters=label)
    assert not (tmp_path / "state" / "work" / ep.server_id).exists()
    assert ep.process is not None and ep.process.returncode == 0
