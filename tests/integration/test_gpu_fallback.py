"""A GPU instance type on this engine (no NVIDIA runtime): the job runs on CPU and is flagged,
or, with smemu:gpu-fallback refuse, CreateTrainingJob refuses it (real Docker and endpoint)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from tests.support.endpoint import EndpointProcess, job_log, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def gpu_job(name: str, bucket: str, *tags: dict[str, str]) -> dict[str, Any]:
    request = toy_request(name, spot=False, checkpoint_uri=None, bucket=bucket, tags=list(tags))
    request["ResourceConfig"]["InstanceType"] = "ml.g5.xlarge"
    request["AlgorithmSpecification"] = {
        "TrainingImage": "smemu-base:latest", "TrainingInputMode": "File",
        "ContainerEntrypoint": ["sh", "-c", "echo visible=${NVIDIA_VISIBLE_DEVICES:-none}"]}
    return request


def test_a_gpu_job_runs_on_cpu_flagged(endpoint: EndpointProcess, docker_client: Any,
                                       sagemaker: Any, bucket: str, job_name: str) -> None:
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has GPUs: the CPU fallback is not what it does")
    sagemaker.create_training_job(**gpu_job(job_name, bucket))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert "visible=none" in job_log(endpoint, job_name)
    [attempt] = endpoint.report(job_name)["Attempts"]
    assert any(f.startswith("ran on CPU, not GPU: ml.g5.xlarge has 1 GPU(s) on SageMaker")
               for f in attempt["Flags"])


def test_refuse_fails_create_training_job_clearly(endpoint: EndpointProcess, docker_client: Any,
                                                  sagemaker: Any, bucket: str,
                                                  job_name: str) -> None:
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has GPUs: nothing to refuse")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sagemaker.create_training_job(**gpu_job(
            job_name, bucket, {"Key": "smemu:gpu-fallback", "Value": "refuse"}))
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("ml.g5.xlarge needs NVIDIA GPUs, and this Docker engine "
                                       "has no NVIDIA runtime")
