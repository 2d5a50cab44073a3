"""SageMaker's marker files beside uploaded checkpoints, which some containers wait on."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.endpoint import read_model_tar, toy_request, wait_for_job
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

MARKER_IMAGE = session_image("smemu-test-markers")
# Writes a checkpoint, then waits for the agent's ".sagemaker-uploaded" marker the way the
# XGBoost container does, and reports what it saw in the model.
MARKER_SCRIPT = textwrap.dedent("""
    import os, time
    d = "/opt/ml/checkpoints"
    with open(d + "/ckpt.bin", "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024))
    deadline = time.time() + float(os.environ.get("WAIT_SECONDS", "30"))
    while time.time() < deadline and not os.path.exists(d + "/ckpt.bin.sagemaker-uploaded"):
        time.sleep(0.05)
    seen = sorted(os.listdir(d))
    print("checkpoint dir:", seen, flush=True)
    open("/opt/ml/model/seen.txt", "w").write("\\n".join(seen))
""")


@pytest.fixture(scope="module")
def marker_image(docker_client: Any) -> Iterator[str]:
    yield build_script_image(docker_client, MARKER_IMAGE, MARKER_SCRIPT)
    docker_client.images.remove(MARKER_IMAGE, force=True)


def _run(sagemaker: Any, s3: Any, bucket: str, job_name: str, image: str,
         tags: list[dict[str, str]], wait_seconds: int) -> tuple[list[str], list[str]]:
    uri = f"s3://{bucket}/ckpt/{job_name}"
    request = toy_request(job_name, checkpoint_uri=uri, bucket=bucket, spot=False)
    request["AlgorithmSpecification"]["TrainingImage"] = image
    request["Environment"] = {"WAIT_SECONDS": str(wait_seconds)}
    request["Tags"] = tags
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    seen = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["seen.txt"]
    keys = [o["Key"].rsplit("/", 1)[-1] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix=f"ckpt/{job_name}/").get("Contents", [])]
    return seen.decode().splitlines(), sorted(keys)


def test_markers_on_by_default(marker_image: str, sagemaker: Any, s3: Any, bucket: str,
                               job_name: str) -> None:
    seen, keys = _run(sagemaker, s3, bucket, job_name, marker_image, [], wait_seconds=60)
    assert seen == ["ckpt.bin", "ckpt.bin.sagemaker-uploaded"]
    assert keys == ["ckpt.bin"]  # the markers stay local, as SageMaker's do


def test_markers_can_be_turned_off(marker_image: str, sagemaker: Any, s3: Any, bucket: str,
                                   job_name: str) -> None:
    tags = [{"Key": "smemu:checkpoint-markers", "Value": "off"}]
    seen, keys = _run(sagemaker, s3, bucket, job_name, marker_image, tags, wait_seconds=3)
    assert seen == ["ckpt.bin"]
    assert keys == ["ckpt.bin"]
