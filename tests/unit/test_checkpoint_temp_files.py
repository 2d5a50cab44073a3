"""What counts as a checkpoint upload: the settle window, temp files renamed into place, and
files rewritten faster than the window (never starved). Real moto S3 over HTTP, real inotify."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.checkpoints import CheckpointMirror, MirrorEvent, verify_mirror
from emulator.checkpoints.workqueue import PathQueue
from tests.unit._s3server import MotoS3, store_for

SETTLE = 0.3


@pytest.fixture
def uri(s3: MotoS3, client: Any) -> str:
    return f"s3://{s3.new_bucket(client)}/ckpt"


class Recorder:
    def __init__(self) -> None:
        self.events: list[MirrorEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: MirrorEvent) -> None:
        with self.lock:
            self.events.append(event)

    def uploaded(self) -> list[str]:
        with self.lock:
            return [e.path for e in self.events if e.kind == "uploaded"]


@pytest.fixture
def mirror(local: Path, uri: str, client: Any) -> Iterator[tuple[CheckpointMirror, Recorder]]:
    recorder = Recorder()
    mirror = CheckpointMirror(local, uri, store_for(client), settle_seconds=SETTLE,
                              on_event=recorder)
    mirror.start()
    yield mirror, recorder
    mirror.stop(flush=False)


def atomic_write(directory: Path, step: int, linger: float) -> None:
    """The toy trainer's checkpoint: checkpoint.json.tmp, closed, then renamed into place;
    `linger` keeps the temp file in the directory between its close and the rename."""
    tmp = directory / "checkpoint.json.tmp"
    with open(tmp, "w") as f:
        f.write(f'{{"step":{step}}}')
    time.sleep(linger)
    os.replace(tmp, directory / "checkpoint.json")


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_temp_files_renamed_into_place_are_never_uploaded_and_the_target_is_not_starved(
        mirror: tuple[CheckpointMirror, Recorder], local: Path, uri: str, client: Any) -> None:
    m, recorder = mirror
    # The temp file lingers most of each cycle, so any look at it while the writer runs
    # would find it; each cycle is far shorter than the settle window.
    uploads_while_writing: list[str] = []
    for step in range(60):
        atomic_write(local, step, linger=0.02)
        time.sleep(0.005)
        if step == 59:
            uploads_while_writing = recorder.uploaded()
    report = m.flush(timeout=20)
    assert report.ok, report.errors
    assert "checkpoint.json.tmp" not in recorder.uploaded()
    # Rewritten every ~25 ms for ~1.5 s: uploaded every settle window meanwhile, not only
    # once the writes stop (a debounce that every write pushes back would starve it).
    assert uploads_while_writing.count("checkpoint.json") >= 2
    assert verify_mirror(client, uri, local) == []
    loc_keys = client.list_objects_v2(Bucket=uri[5:].split("/")[0], Prefix="ckpt/")["Contents"]
    assert [o["Key"] for o in loc_keys] == ["ckpt/checkpoint.json"]


def test_a_temp_file_left_in_place_is_uploaded_after_the_settle_window(
        mirror: tuple[CheckpointMirror, Recorder], local: Path) -> None:
    _, recorder = mirror
    atomic_write(local, 1, linger=0.0)
    assert wait_until(lambda: "checkpoint.json" in recorder.uploaded())
    # The next write dies before its rename (a kill): the temp file stays, a file like any other.
    (local / "checkpoint.json.tmp").write_text('{"st')
    assert wait_until(lambda: "checkpoint.json.tmp" in recorder.uploaded())


def test_a_file_written_and_kept_is_uploaded_once_after_the_settle_window(
        mirror: tuple[CheckpointMirror, Recorder], local: Path) -> None:
    _, recorder = mirror
    (local / "model.pt").write_bytes(b"x" * 100)
    assert wait_until(lambda: "model.pt" in recorder.uploaded())
    assert recorder.uploaded() == ["model.pt"]


# -- the queue's two kinds of repeated marks -------------------------------------------------

def take_order(queue: PathQueue, count: int) -> list[str]:
    order = []
    for _ in range(count):
        got = queue.take()
        assert got is not None
        order.append(got[0])
        queue.done(got[0])
    return order


def test_a_repeated_mark_keeps_the_earliest_time() -> None:
    queue = PathQueue()
    queue.put("a", delay=0.4)
    queue.put("b", delay=0.5)
    time.sleep(0.2)
    queue.put("a", delay=0.4)  # would be due after b if it pushed a back
    assert take_order(queue, 2) == ["a", "b"]


def test_a_push_back_mark_delays_the_path_again() -> None:
    queue = PathQueue()
    queue.put("a", delay=0.4)
    queue.put("b", delay=0.5)
    time.sleep(0.2)
    queue.put("a", delay=0.4, push_back=True)
    assert take_order(queue, 2) == ["b", "a"]
