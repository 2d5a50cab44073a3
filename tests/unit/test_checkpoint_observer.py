"""One inotify observer per checkpoint directory, feeding the mirror and the activity recorder."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.checkpoints import CheckpointMirror
from emulator.checkpoints.activity import ActivityRecorder
from tests.unit._s3server import MotoS3, store_for


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _observer_threads(root: Path) -> list[threading.Thread]:
    """watchdog's emitter threads watching ``root`` (one per observer)."""
    return [t for t in threading.enumerate()
            if getattr(getattr(t, "watch", None), "path", None) == str(root)]


def test_mirror_and_recorder_share_one_observer(tmp_path: Path, s3: MotoS3, client: Any):
    local = tmp_path / "ckpt"
    local.mkdir()
    (local / "restored.pt").write_bytes(b"from the last attempt")
    bucket = s3.new_bucket(client)
    mirror = CheckpointMirror(local, f"s3://{bucket}/ckpt", store_for(client)).start()
    recorder = ActivityRecorder(mirror.observer).start()
    try:
        assert len(_observer_threads(local)) == 1
        assert mirror.observer.close_events

        (local / "restored.pt").read_bytes()                    # a resume signal
        (local / "in-place.pt").write_bytes(b"torn if killed")  # closed under its final name
        (local / "tmp.pt").write_bytes(b"atomic")
        os.replace(local / "tmp.pt", local / "atomic.pt")       # renamed into place

        _wait(lambda: "atomic.pt" in recorder.activity.renamed_in)
        activity = recorder.activity
        assert "restored.pt" in activity.reads
        assert "in-place.pt" in activity.in_place_writes
        assert "atomic.pt" not in activity.in_place_writes

        # The mirror stops first (a "lose" interruption); the recorder keeps listening.
        mirror.stop(flush=False)
        assert mirror.observer.current is not None
        (local / "after.pt").write_bytes(b"closed after the mirror stopped")
        _wait(lambda: "after.pt" in recorder.activity.last_closed)
    finally:
        recorder.stop()
        mirror.stop(flush=False)
    assert mirror.observer.current is None
    _wait(lambda: not _observer_threads(local))


def test_a_move_out_of_the_tree_is_not_a_rename_into_place(tmp_path: Path, s3: MotoS3,
                                                           client: Any):
    local, outside = tmp_path / "ckpt", tmp_path / "outside"
    local.mkdir()
    outside.mkdir()
    bucket = s3.new_bucket(client)
    mirror = CheckpointMirror(local, f"s3://{bucket}/ckpt", store_for(client)).start()
    recorder = ActivityRecorder(mirror.observer).start()
    try:
        (outside / "in.pt").write_bytes(b"arrives")
        os.replace(outside / "in.pt", local / "in.pt")
        (local / "out.pt").write_bytes(b"leaves")
        os.replace(local / "out.pt", outside / "out.pt")
        (local / "marker.pt").write_bytes(b"last")
        _wait(lambda: "marker.pt" in recorder.activity.last_closed)
        activity = recorder.activity
        assert "in.pt" not in activity.renamed_in  # as a creation: not recorded
        assert "out.pt" in activity.in_place_writes  # written in place before it left
    finally:
        recorder.stop()
        mirror.stop(flush=False)
