"""docker-compose.yml, brought up from a clean copy of the checkout: a spot job through it is
interrupted and resumes, with the default profile (embedded S3) and with the `minio` profile
(checkpoints on a disk-backed S3: `rclone serve s3` standing in for MinIO, which no registry
here serves). `docker-compose down` leaves nothing behind."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from emulator.server.daemon import health
from emulator.testing import Endpoint, read_result, wait_until
from tests.support.compose import ComposeStack, clean_checkout, compose_command
from tests.support.endpoint import (
    CREDENTIALS,
    free_port,
    read_model_tar,
    toy_request,
    toy_value,
    wait_for_job,
)

pytestmark = pytest.mark.docker

STEPS = 30
EMULATOR_IMAGE = "smemu-emulator:latest"
STANDIN_IMAGE = "smemu-s3-standin:latest"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Path:
    if compose_command() is None:
        pytest.fail("no docker-compose: `make setup` installs it (scripts/ensure-compose.sh)")
    for image in (EMULATOR_IMAGE, STANDIN_IMAGE):
        try:
            docker_client.images.get(image)
        except Exception:
            pytest.fail(f"{image} is missing: run `make images` (make test does it)")
    return clean_checkout(tmp_path_factory.mktemp("checkout"))


def client(service: str, url: str, **credentials: str) -> Any:
    """A boto3 client at `url`, as a user on the host makes it."""
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 2},
                                      s3={"addressing_style": "path"}),
                        **(credentials or CREDENTIALS))


def listing_once_up(list_keys: Callable[[], list[str]]) -> list[str] | None:
    """The listing, or None while the S3 server is still starting (connection refused)."""
    try:
        return list_keys()
    except (EndpointConnectionError, ConnectionClosedError):
        return None


def run_interrupted_job(stack: ComposeStack, name: str, bucket: str) -> dict[str, Any]:
    """A spot toy job on the stack's endpoint, interrupted once after its first checkpoint."""
    sagemaker = client("sagemaker", stack.url)
    sagemaker.create_training_job(**toy_request(
        name, steps=STEPS, checkpoint_uri=f"s3://{bucket}/checkpoints/{name}", bucket=bucket,
        tags=[{"Key": "smemu:interrupt", "Value": "checkpoint=1"},
              {"Key": "smemu:grace-period", "Value": "20s"}]))
    return wait_for_job(sagemaker, name, timeout=300)


# A training container that writes to S3 through the job network's gateway, which forwards to
# the endpoint's unix socket: a path in SMEMU_HOST_DIR, the same inside the endpoint's container.
PUT_FROM_CONTAINER = (
    "import os, urllib.request; "
    "url = os.environ['AWS_ENDPOINT_URL_S3'] + '/' + os.environ['BUCKET'] + '/from-container.txt'; "
    "urllib.request.urlopen(urllib.request.Request(url, data=b'hello', method='PUT', "
    "headers={'Content-Type': 'application/octet-stream'}))")


def put_from_container_request(name: str, bucket: str) -> dict[str, Any]:
    request = toy_request(name, spot=False, checkpoint_uri=None, bucket=bucket)
    request["AlgorithmSpecification"] = {
        "TrainingImage": "smemu-base:latest", "TrainingInputMode": "File",
        "ContainerEntrypoint": ["python3", "-c", PUT_FROM_CONTAINER]}
    request["Environment"] = {"BUCKET": bucket}
    return request


def assert_resumed(stack: ComposeStack, name: str, job: dict[str, Any]) -> None:
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    result = read_result(Endpoint.connect(stack.url), name, job)
    assert [a.resume for a in result.attempts] == ["fresh-start", "resumed"], result.logs()
    assert "checkpoint.json" in [f.path for f in result.attempts[1].restored]


@pytest.fixture()
def stack_down_check() -> Iterator[list[ComposeStack]]:
    """The stacks a test brought up: after it, none has anything left in Docker."""
    stacks: list[ComposeStack] = []
    yield stacks
    for stack in stacks:
        assert stack.leftovers() == [], f"docker-compose down left {stack.leftovers()}"
        assert health(stack.url) is None, "the endpoint still answers after down"
        assert not stack.host_dir.exists()


def test_default_profile_runs_a_spot_job_that_resumes(
        checkout: Path, docker_client: Any, stack_down_check: list[ComposeStack],
        job_name: str) -> None:
    with ComposeStack(checkout, docker_client) as stack:
        stack_down_check.append(stack)
        assert stack.running_services() == ["smemu"], "the .env default profile: smemu only"
        bucket = f"compose-{secrets.token_hex(4)}"
        client("s3", stack.url).create_bucket(Bucket=bucket)
        job = run_interrupted_job(stack, job_name, bucket)
        assert_resumed(stack, job_name, job)
        model = read_model_tar(client("s3", stack.url), job["ModelArtifacts"]["S3ModelArtifacts"])
        assert json.loads(model["model.json"])["value"] == toy_value(STEPS)
        sagemaker = client("sagemaker", stack.url)
        sagemaker.create_training_job(**put_from_container_request(f"{job_name}-s3", bucket))
        put = wait_for_job(sagemaker, f"{job_name}-s3", timeout=120)
        assert put["TrainingJobStatus"] == "Completed", put.get("FailureReason")
        body = client("s3", stack.url).get_object(Bucket=bucket, Key="from-container.txt")
        assert body["Body"].read() == b"hello"
        # The state directory is the host's, at the path given: the history is on the host.
        assert (stack.host_dir / "state" / f"jobs-{stack.port}.sqlite3").is_file()


def test_minio_profile_keeps_checkpoints_on_the_s3_server(
        checkout: Path, docker_client: Any, stack_down_check: list[ComposeStack],
        job_name: str) -> None:
    user, password = "compose-test", f"secret-{secrets.token_hex(8)}"
    s3_port = free_port()
    env = {"SMEMU_MINIO_IMAGE": STANDIN_IMAGE, "SMEMU_MINIO_PORT": str(s3_port),
           "SMEMU_MINIO_CONSOLE_PORT": str(free_port()),
           "SMEMU_MINIO_USER": user, "SMEMU_MINIO_PASSWORD": password}
    with ComposeStack(checkout, docker_client, profile="minio", env=env) as stack:
        stack_down_check.append(stack)
        assert stack.running_services() == ["minio", "smemu-minio"]
        s3_url = f"http://127.0.0.1:{s3_port}"
        assert health(stack.url)["s3_endpoint_url"] == s3_url  # type: ignore[index]
        minio = client("s3", s3_url, aws_access_key_id=user, aws_secret_access_key=password)
        bucket = f"compose-{secrets.token_hex(4)}"
        minio.create_bucket(Bucket=bucket)

        job = run_interrupted_job(stack, job_name, bucket)
        assert_resumed(stack, job_name, job)

        def stored() -> list[str]:
            listing = minio.list_objects_v2(Bucket=bucket)
            return sorted(o["Key"] for o in listing.get("Contents", []))

        keys = stored()
        assert f"checkpoints/{job_name}/checkpoint.json" in keys
        assert f"output/{job_name}/output/model.tar.gz" in keys
        model = read_model_tar(minio, job["ModelArtifacts"]["S3ModelArtifacts"])
        assert json.loads(model["model.json"])["value"] == toy_value(STEPS)
        embedded = client("s3", stack.url)
        assert bucket not in [b["Name"] for b in embedded.list_buckets()["Buckets"]]
        # Disk-backed: the objects outlive the S3 server's process.
        restarted = stack.compose("restart", "minio")
        assert restarted.returncode == 0, restarted.stderr
        assert wait_until(lambda: listing_once_up(stored), timeout=60) == keys
