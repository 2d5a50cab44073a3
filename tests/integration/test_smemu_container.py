"""`emulator.testing.SmemuContainer` with real Docker: the endpoint's image as a testcontainers
container runs a spot job that is interrupted and resumes; a start that fails (the endpoint
exits, or never answers) raises with the container's logs and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from testcontainers.core.config import testcontainers_config
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

from emulator.server.daemon import health
from emulator.testing import (
    Endpoint,
    EndpointStartError,
    SmemuContainer,
    assert_resumed,
    run_job,
)
from tests.support.endpoint import TOY_IMAGE

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def without_ryuk() -> Iterator[None]:
    """testcontainers' reaper image cannot be pulled here (no registry); the containers are
    removed by the context managers, and the tests check that they are."""
    before = testcontainers_config.ryuk_disabled
    testcontainers_config.ryuk_disabled = True
    yield
    testcontainers_config.ryuk_disabled = before


@pytest.fixture(scope="module")
def emulator_image(docker_client: Any) -> str:
    image = "smemu-emulator:latest"
    try:
        docker_client.images.get(image)
    except Exception:
        pytest.fail(f"{image} is missing: run `make images` (make test does it)")
    return image


def started_here(docker_client: Any, image: str) -> list[str]:
    """The containers of `image` this process started with testcontainers, stopped or not."""
    return [c.id for c in docker_client.containers.list(all=True, filters={
        "ancestor": image, "label": f"{LABEL_SESSION_ID}={SESSION_ID}"}, ignore_removed=True)]


def assert_gone(docker_client: Any, container: SmemuContainer, container_id: str) -> None:
    assert container_id not in [c.id for c in docker_client.containers.list(all=True,
            ignore_removed=True)]
    if container.server_id:
        label = {"label": f"smemu.server={container.server_id}"}
        assert docker_client.containers.list(all=True, filters=label, ignore_removed=True) == []
        assert docker_client.networks.list(filters=label) == []
    assert container.host_dir is not None and not container.host_dir.exists()


def test_a_spot_job_resumes_on_the_containerised_endpoint(
        emulator_image: str, docker_client: Any, job_name: str) -> None:
    with SmemuContainer(emulator_image, grace_period=20) as smemu:
        container_id = smemu.get_container_id()
        assert smemu.get_url().startswith("http://127.0.0.1:")
        assert smemu.get_client("sts").get_caller_identity()["Account"]
        result = run_job(smemu.get_url(), TOY_IMAGE, name=job_name, interrupt=["checkpoint=1"],
                         hyperparameters={"total_steps": "20", "checkpoint_interval": "5",
                                          "seconds_per_step": "0.1"})
        assert result.status == "Completed", result.logs()
        assert_resumed(result)
        assert [a.resume for a in result.attempts] == ["fresh-start", "resumed"]
        jobs = smemu.get_client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
        assert [j["TrainingJobName"] for j in jobs] == [job_name]
    assert_gone(docker_client, smemu, container_id)
    smemu.stop()  # idempotent


def test_an_endpoint_that_exits_at_start_raises_with_its_logs(
        emulator_image: str, docker_client: Any) -> None:
    smemu = SmemuContainer(emulator_image, serve_args=["--no-such-flag"])
    with pytest.raises(EndpointStartError) as raised, smemu:
        pass
    message = str(raised.value)
    assert "exited before it answered" in message
    assert "No such option '--no-such-flag'" in message  # the container's log
    assert started_here(docker_client, emulator_image) == []
    assert not smemu.host_dir or not smemu.host_dir.exists()


def test_an_endpoint_that_never_answers_times_out_with_its_logs(
        docker_client: Any) -> None:
    smemu = SmemuContainer("smemu-base:latest", start_timeout=3, stop_timeout=1,
                           entrypoint=["sh", "-c", "echo waiting for nothing; exec sleep 600"])
    with pytest.raises(EndpointStartError) as raised:
        smemu.start()
    message = str(raised.value)
    assert "did not answer in 3s" in message and "waiting for nothing" in message
    assert started_here(docker_client, "smemu-base:latest") == []
    assert smemu.host_dir is not None and not smemu.host_dir.exists()


def test_a_checking_containerised_endpoint_refuses_others_and_runs_a_job_signed(
        emulator_image: str, docker_client: Any, job_name: str) -> None:
    keys = "AKIDCONTAINER:container-secret"
    with SmemuContainer(emulator_image, grace_period=20, auth=keys) as smemu:
        container_id = smemu.get_container_id()
        doc = health(smemu.get_url())
        assert doc is not None and doc["auth"] is True  # the image knows $SMEMU_AUTH
        assert smemu.get_client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
        for access_key, secret, code in [("AKIDOTHER", "container-secret",
                                          "UnrecognizedClientException"),
                                         ("AKIDCONTAINER", "wrong", "InvalidSignatureException")]:
            other = boto3.client("sagemaker", endpoint_url=smemu.get_url(),
                                 region_name="us-east-1", aws_access_key_id=access_key,
                                 aws_secret_access_key=secret,
                                 config=Config(retries={"max_attempts": 1}))
            with pytest.raises(ClientError) as refused:
                other.list_training_jobs()
            assert refused.value.response["Error"]["Code"] == code
        # The job's containers and the endpoint's own mirror sign with the keys too: a
        # checkpoint written, the job interrupted, and resumed from S3.
        result = run_job(Endpoint.connect(smemu.get_url(), auth=keys), TOY_IMAGE,
                         name=job_name, interrupt=["checkpoint=1"],
                         hyperparameters={"total_steps": "20", "checkpoint_interval": "5",
                                          "seconds_per_step": "0.1"})
        assert result.status == "Completed", result.logs()
        assert_resumed(result)
    assert_gone(docker_client, smemu, container_id)
