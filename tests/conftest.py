"""Shared fixtures: a real endpoint process and real clients. Override points are documented."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess
from tests.support.images import remove_session_images
from tests.support.s3server import S3ServerProcess

pytest_plugins = ["pytester"]  # tests of the smemu pytest plugin run pytest inside pytest


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):  # `make test` runs files in parallel
        from tests.support.parallel import ParallelPlugin

        config.pluginmanager.register(ParallelPlugin(), "smemu-parallel")


def _docker_client() -> Any:
    import docker

    return docker.from_env()


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """The engine the tests check for leftovers; fails (not skips) when no engine answers.
    At the session's end it removes the test images this session built (only those)."""
    client = _docker_client()
    client.ping()
    try:
        client.images.get(TOY_IMAGE)
    except Exception:
        pytest.fail(f"{TOY_IMAGE} is missing: run `make images` (make test does it)")
    yield client
    remove_session_images(client)


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[
        EndpointProcess]:
    """One `smemu serve` for the session (override to change its flags)."""
    state = tmp_path_factory.mktemp("smemu-state")
    # The tests' own temporary directories (file:// channels, --code dirs), nothing else.
    with EndpointProcess(state, "--grace-period", "20s",
                         "--allow-path", str(tmp_path_factory.getbasetemp())) as ep:
        yield ep
    leftovers = docker_client.containers.list(
        all=True, filters={"label": f"smemu.server={ep.server_id}"}, ignore_removed=True)
    networks = docker_client.networks.list(filters={"label": f"smemu.server={ep.server_id}"})
    assert not leftovers and not networks, "the endpoint left containers/networks behind"
    work = state / "work" / ep.server_id
    assert not work.exists(), f"the endpoint left {work} behind"


@pytest.fixture(scope="session")
def external_s3() -> Iterator[Any]:
    """A boto3 client of a second S3 server: its own process and state, on loopback (override
    to test against another S3, e.g. MinIO)."""
    with S3ServerProcess() as server:
        yield server.client()


@pytest.fixture(scope="session")
def endpoint_on_external(tmp_path_factory: pytest.TempPathFactory, external_s3: Any,
                         docker_client: Any) -> Iterator[EndpointProcess]:
    """A `smemu serve --s3-endpoint-url` keeping checkpoints and artifacts on `external_s3`."""
    state: Path = tmp_path_factory.mktemp("external")
    with EndpointProcess(state, "--s3-endpoint-url", external_s3.meta.endpoint_url,
                         "--grace-period", "10s") as ep:
        yield ep


@pytest.fixture()
def sagemaker(endpoint: EndpointProcess) -> Any:
    return endpoint.client("sagemaker")


@pytest.fixture()
def s3(endpoint: EndpointProcess) -> Any:
    return endpoint.client("s3")


@pytest.fixture()
def bucket(s3: Any) -> str:
    """A fresh bucket on the embedded S3 for each test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture()
def job_name(request: pytest.FixtureRequest) -> str:
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")
    return f"{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture()
def tmp_state(tmp_path: Path) -> Path:
    return tmp_path / "state"
