"""The throwaway S3 stand-in container of the tests (tests/support/s3_standin.py) with real
Docker: it serves S3 until the context ends and is gone after; a start that fails raises with
the container's logs and leaves no container behind."""

from __future__ import annotations

from typing import Any

import pytest
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

from tests.support.s3_standin import STANDIN_IMAGE, S3StandinContainer

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def standin_image(docker_client: Any) -> str:
    try:
        docker_client.images.get(STANDIN_IMAGE)
    except Exception:
        pytest.fail(f"{STANDIN_IMAGE} is missing: run `make setup` (it builds it)")
    return STANDIN_IMAGE


def started_here(docker_client: Any) -> list[str]:
    """The stand-in containers this process started, running or not."""
    return [c.id for c in docker_client.containers.list(all=True, filters={
        "ancestor": STANDIN_IMAGE, "label": f"{LABEL_SESSION_ID}={SESSION_ID}"},
                ignore_removed=True)]


def test_it_serves_s3_and_is_removed_at_the_end(standin_image: str, docker_client: Any) -> None:
    before = started_here(docker_client)
    with S3StandinContainer(standin_image) as s3:
        assert s3.url.startswith("http://127.0.0.1:")
        client = s3.client()
        client.create_bucket(Bucket="standin-test")
        client.put_object(Bucket="standin-test", Key="a/b.bin", Body=b"payload")
        body = client.get_object(Bucket="standin-test", Key="a/b.bin")["Body"].read()
        assert body == b"payload"
        container_id = s3.get_container_id()
        assert container_id in started_here(docker_client)
    assert container_id not in started_here(docker_client)
    assert started_here(docker_client) == before


def test_a_failed_start_raises_with_the_logs_and_removes_the_container(
        standin_image: str, docker_client: Any) -> None:
    before = started_here(docker_client)
    broken = S3StandinContainer(standin_image).with_command("server")  # no data directory
    expected = r"(?s)exited before it answered.*no data directory given"
    with pytest.raises(RuntimeError, match=expected):
        broken.start()  # not the context manager: start() itself cleans up
    assert started_here(docker_client) == before
    with pytest.raises(RuntimeError, match="no data directory given"), broken:
        pass
    assert started_here(docker_client) == before
