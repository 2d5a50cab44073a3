"""The boto3 clients smemu shares between threads (emulator.storage.s3) are safe to share.

botocore loads a client's exception classes on first use, unguarded: two threads that touch a
fresh client's ``exceptions`` at once could get two different sets of classes, and a thread then
fails to catch the error it expects (8 concurrent jobs each creating the shared log group saw
ResourceAlreadyExistsException escape ``contextlib.suppress``)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from emulator.storage.s3 import S3Endpoint


def _classes_seen_by_threads(client: Any, threads: int = 8) -> list[type]:
    barrier = threading.Barrier(threads)
    seen: list[type] = []

    def use() -> None:
        barrier.wait()
        seen.append(client.exceptions.ResourceAlreadyExistsException)

    started = [threading.Thread(target=use) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return seen


def test_threads_meeting_a_fresh_shared_client_see_one_set_of_exception_classes() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: without the fix it fails in a round or two
    try:
        for attempt in range(20):  # a fresh client each round: a new endpoint
            client = S3Endpoint(f"http://127.0.0.1:{attempt + 1}").client("logs")
            seen = _classes_seen_by_threads(client)
            assert set(seen) == {client.exceptions.ResourceAlreadyExistsException}
    finally:
        sys.setswitchinterval(interval)
