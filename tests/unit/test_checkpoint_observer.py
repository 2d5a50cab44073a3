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


def test_a_rename_just_before_the_writer_ends_is_recorded_under_load(
        tmp_path: Path, s3: MotoS3, client: Any):
    """The SIGTERM handler's temp file + rename, then exit: the recorder is stopped at once,
    while (on a loaded machine) the rename's event is still on its way. A slow listener ahead
    of the recorder stands in for the load."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

    class Slow(FileSystemEventHandler):
        def dispatch(self, event: FileSystemEvent) -> None:
            time.sleep(0.05)

    local = tmp_path / "ckpt"
    local.mkdir()
    bucket = s3.new_bucket(client)
    mirror = CheckpointMirror(local, f"s3://{bucket}/ckpt", store_for(client)).start()
    slow = Slow()
    mirror.observer.subscribe(slow)
    recorder = ActivityRecorder(mirror.observer).start()
    try:
        (local / "checkpoint.json.tmp").write_text('{"step": 21}')
        os.replace(local / "checkpoint.json.tmp", local / "checkpoint.json")
        activity = recorder.stop()  # the container has just exited
        assert "checkpoint.json" in activity.renamed_in
        assert "checkpoint.json.tmp" not in activity.in_place_writes
    finally:
        recorder.stop()
        mirror.observer.unsubscribe(slow)
        mirror.stop(flush=False)


def test_only_the_writers_changes_hold_the_settle(tmp_path: Path) -> None:
    """The quiet period of DirectoryObserver.settle counts from the writer's last change, not
    from the mirror's own marker files written as an upload ends (just before the kill)."""
    from watchdog.events import (
        DirModifiedEvent,
        FileClosedEvent,
        FileClosedNoWriteEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileMovedEvent,
        FileOpenedEvent,
    )

    from emulator.checkpoints.observer import is_writers_change

    root = str(tmp_path)
    ours = [FileCreatedEvent(f"{root}/model.pt.sagemaker-uploaded"),
            FileClosedEvent(f"{root}/model.pt.sagemaker-uploaded"),
            FileDeletedEvent(f"{root}/model.pt.sagemaker-uploading"),
            DirModifiedEvent(root), FileOpenedEvent(f"{root}/model.pt"),
            FileClosedNoWriteEvent(f"{root}/model.pt")]
    writers = [FileCreatedEvent(f"{root}/model.pt"), FileClosedEvent(f"{root}/model.pt"),
               FileDeletedEvent(f"{root}/old.pt"),
               FileMovedEvent(f"{root}/model.pt.tmp", f"{root}/model.pt"),
               FileMovedEvent(f"{root}/x.sagemaker-uploaded", f"{root}/model.pt"),
               FileCreatedEvent(f"{root}/notes.sagemaker-ignore")]
    assert [is_writers_change(e) for e in ours] == [False] * len(ours)
    assert [is_writers_change(e) for e in writers] == [True] * len(writers)
