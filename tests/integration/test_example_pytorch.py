"""examples/pytorch, opt-in: a bring-your-own PyTorch container that checkpoints the model's and
optimizer's state_dict, the epoch and the RNG states, interrupted and resumed to the model of an
uninterrupted run (file by file, sha256).

The image comes from `make example-pytorch` (torch's wheels from the package index bring its
CUDA libraries, about 3 GB): without it the test is skipped and says so."""

from __future__ import annotations

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import EndpointProcess

pytestmark = pytest.mark.docker

IMAGE = "smemu-example-pytorch:latest"


@pytest.fixture(scope="module")
def pytorch_image(docker_client: object) -> str:
    import docker.errors

    try:
        docker_client.images.get(IMAGE)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        pytest.skip(f"{IMAGE} is not built: `make example-pytorch` builds it (opt-in: torch's "
                    "wheels bring about 3 GB of CUDA libraries) and runs this test")
    return IMAGE


def test_pytorch_resumes_model_optimizer_and_rng_state_exactly(
        endpoint: EndpointProcess, pytorch_image: str, bucket: str, job_name: str) -> None:
    result = smemu("run", "--endpoint-url", endpoint.url, "--image", pytorch_image,
                   "--job-name", job_name, "--spot", "--max-wait", "900",
                   "--checkpoint-s3-uri", f"s3://{bucket}/pytorch/{job_name}",
                   "--output-path", f"s3://{bucket}/out", "-H", "epochs=6",
                   "-H", "seconds_per_epoch=0.5", "--interrupt", "checkpoint=2",
                   "--grace-period", "20s", "--compare-uninterrupted", timeout=900)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "starting from scratch at epoch 0" in out
    assert "resumed from checkpoint at epoch" in out
    assert "training complete: epoch 6" in out
    assert "Attempts: 2, interruptions: 1" in out
    assert f"Compared with the uninterrupted run {job_name}-uninterrupted: identical" in out
