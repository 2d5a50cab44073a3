"""A SIGKILLed container's end is known from Docker's real die event (real daemon): with Docker's
wait call made never to answer, the handle still tells the exit code."""

from __future__ import annotations

import signal
import threading
import uuid
from typing import Any

import pytest

from emulator.runtime import labels as L
from emulator.runtime.deaths import DeathWatch
from emulator.runtime.engine import ContainerHandle

pytestmark = pytest.mark.docker


def test_a_killed_containers_end_is_told_by_its_die_event(docker_client: Any) -> None:
    watch = DeathWatch(lambda: docker_client)
    container = docker_client.containers.create(
        "smemu-base:latest", ["sleep", "300"], name=f"smemu-deaths-{uuid.uuid4().hex[:10]}",
        network_mode="none", labels={**L.server_labels(f"deaths{uuid.uuid4().hex[:8]}")})
    handle = ContainerHandle(container, watch)
    asked, release = threading.Event(), threading.Event()

    def never_answers(**kwargs: Any) -> dict[str, int]:  # Docker's wait call, stuck
        asked.set()
        release.wait()
        raise ConnectionError("released by the test")

    try:
        handle.start()
        container.wait = never_answers
        assert watch.listening
        handle.send_signal(signal.SIGKILL)
        assert handle.wait(timeout=60) == 137
        assert asked.is_set()  # the wait call was made, and did not tell
    finally:
        release.set()
        handle.remove()
