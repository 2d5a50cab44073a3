"""The suite's throwaway images: tagged per session, so sessions sharing one Docker daemon never
delete each other's images; each session removes only the ones it built."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.support.images import (
    SESSION_ID,
    SESSION_LABEL,
    build_script_image,
    remove_session_images,
    session_image,
)

pytestmark = pytest.mark.docker


def test_another_session_gets_other_tags() -> None:
    other = subprocess.run(
        [sys.executable, "-c",
         "from tests.support.images import session_image; print(session_image('smemu-test-x'))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert other.startswith("smemu-test-x:") and other != session_image("smemu-test-x")


def test_session_cleanup_removes_only_this_sessions_images(docker_client: Any) -> None:
    ours = build_script_image(docker_client, session_image("smemu-test-cleanup"), "pass")
    # Another session's image, as that session would have built it (its own id in the label).
    other_session = f"other-{uuid.uuid4().hex[:8]}"  # unique: sessions run at once
    theirs = f"smemu-test-cleanup:{other_session}"
    docker_client.images.build(
        fileobj=_dockerfile(), custom_context=False, tag=theirs, network_mode="none", rm=True,
        labels={"smemu.managed": "true", SESSION_LABEL: other_session})
    try:
        assert docker_client.images.get(ours).labels[SESSION_LABEL] == SESSION_ID
        remove_session_images(docker_client, "smemu-test-cleanup")
        assert not docker_client.images.list(name=ours)
        assert docker_client.images.list(name=theirs)  # still there for its session
    finally:
        docker_client.images.remove(theirs, force=True)


def _dockerfile() -> io.BytesIO:
    return io.BytesIO(b'FROM smemu-base:latest\nLABEL smemu.test="cleanup-other"\n')
