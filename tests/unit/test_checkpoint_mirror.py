"""CheckpointMirror against a real moto S3 server over HTTP and a real inotify watch."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.checkpoints import (
    CheckpointMirror,
    MirrorEvent,
    local_manifest,
    parse_s3_uri,
    restore,
    s3_manifest,
    verify_mirror,
)
from emulator.errors import CheckpointError
from tests.unit._s3server import MotoS3, store_for

MiB = 1024 * 1024


class Running:
    """A started mirror plus the events it emitted."""

    def __init__(self, local: Path, uri: str, client: Any, store: Any = None,
                 **kwargs: Any) -> None:
        self.events: list[MirrorEvent] = []
        self._lock = threading.Lock()
        self.mirror = CheckpointMirror(local, uri, store or store_for(client),
                                       on_event=self._record, **kwargs)
        self.local, self.uri, self.client = local, uri, client

    def _record(self, event: MirrorEvent) -> None:
        with self._lock:
            self.events.append(event)

    def kinds(self, kind: str) -> list[str]:
        with self._lock:
            return [e.path for e in self.events if e.kind == kind]

    def wait_synced(self, timeout: float = 10.0) -> None:
        """Wait, without flushing, until S3 equals the local tree: the events did the work."""
        last: list[str] = []

        def synced() -> bool:
            nonlocal last
            last = verify_mirror(self.client, self.uri, self.local)
            return not last

        wait_for(synced, timeout, lambda: f"S3 never matched local: {last}")


@pytest.fixture
def running(local: Path, uri: str, client: Any) -> Iterator[Running]:
    run = Running(local, uri, client)
    run.mirror.start()
    yield run
    run.mirror.stop(flush=False)


def wait_for(pred: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(why())
        time.sleep(0.05)


def keys(client: Any, uri: str) -> list[str]:
    loc = parse_s3_uri(uri)
    listing = client.list_objects_v2(Bucket=loc.bucket, Prefix=loc.prefix)
    return sorted(loc.relative(o["Key"]) for o in listing.get("Contents", []))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_final(run: Running) -> None:
    report = run.mirror.flush(timeout=20)
    assert report.ok, report.errors
    assert verify_mirror(run.client, run.uri, run.local) == []


def test_uses_inotify_on_linux(running: Running):
    if os.uname().sysname == "Linux":
        assert running.mirror.uses_close_events


def test_write_and_close_is_uploaded_with_an_event(running: Running):
    started = time.time()
    (running.local / "model.pt").write_bytes(b"w1" * 500)

    running.wait_synced()

    [event] = [e for e in running.events if e.kind == "uploaded"]
    assert event.path == "model.pt" and event.size == 1000
    assert event.sha256 == sha(b"w1" * 500)
    assert started <= event.at <= time.time() and event.seconds >= 0
    report = running.mirror.flush()
    assert [e.path for e in report.uploaded] == ["model.pt"] and report.ok
    assert verify_mirror(running.client, running.uri, running.local) == []


def test_atomic_rename_into_place_leaves_no_temp_key(running: Running):
    for step in range(5):
        tmp = running.local / "ckpt.pt.tmp"
        tmp.write_bytes(f"step {step}".encode() * 100)
        os.replace(tmp, running.local / "ckpt.pt")

    running.wait_synced()

    assert keys(running.client, running.uri) == ["ckpt.pt"]
    assert s3_manifest(running.client, running.uri)["ckpt.pt"].sha256 == sha(b"step 4" * 100)
    assert_final(running)
    assert keys(running.client, running.uri) == ["ckpt.pt"]


def test_quick_rewrites_end_with_the_final_content(running: Running):
    path = running.local / "state.bin"
    for i in range(40):
        path.write_bytes(bytes([i]) * (1000 + (i % 3)))  # some rewrites keep the same size

    running.wait_synced()

    assert s3_manifest(running.client, running.uri)["state.bin"].sha256 == sha(bytes([39]) * 1000)
    assert_final(running)


class _BlockFirstUpload:
    """A blob store whose first PutObject waits until released (to change the file meanwhile)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()
        self._first = True

    def put_bytes(self, *args: Any, **kwargs: Any) -> Any:
        if self._first:
            self._first = False
            self.entered.set()
            assert self.release.wait(10)
        return self._inner.put_bytes(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("how", ["in-place", "replace"])
def test_file_changed_during_its_upload_ends_with_final_content(
    local: Path, uri: str, client: Any, how: str
):
    blocking = _BlockFirstUpload(store_for(client))
    run = Running(local, uri, client, blocking)
    run.mirror.start()
    try:
        path = local / "big.pt"
        path.write_bytes(b"1" * (2 * MiB))
        assert blocking.entered.wait(5)
        if how == "in-place":
            with path.open("r+b") as fh:
                fh.write(b"2" * (2 * MiB))
        else:
            (local / "big.pt.tmp").write_bytes(b"2" * (2 * MiB))
            os.replace(local / "big.pt.tmp", path)
        blocking.release.set()

        run.wait_synced()

        assert s3_manifest(client, uri)["big.pt"].sha256 == sha(b"2" * (2 * MiB))
        assert_final(run)
    finally:
        blocking.release.set()
        run.mirror.stop()


def test_deleted_file_is_deleted_in_s3(running: Running):
    (running.local / "a.txt").write_text("a")
    (running.local / "b.txt").write_text("b")
    running.wait_synced()

    (running.local / "a.txt").unlink()

    running.wait_synced()
    assert keys(running.client, running.uri) == ["b.txt"]
    assert running.kinds("deleted") == ["a.txt"]
    assert_final(running)


def test_nested_directories_and_empty_files(running: Running):
    deep = running.local / "epoch-1" / "rank-0" / "shards"
    deep.mkdir(parents=True)  # files land before inotify watches the new directories
    (deep / "part-0").write_bytes(b"p0")
    (deep / "empty").write_bytes(b"")
    (running.local / "epoch-1" / "meta.json").write_text("{}")
    (running.local / "top-empty").touch()

    running.wait_synced()

    assert keys(running.client, running.uri) == [
        "epoch-1/meta.json",
        "epoch-1/rank-0/shards/empty",
        "epoch-1/rank-0/shards/part-0",
        "top-empty",
    ]
    assert s3_manifest(running.client, running.uri)["top-empty"].size == 0
    assert_final(running)


# watchdog 7 warns about re-registering watches of a moved directory; harmless here.
@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")
def test_directory_moves_and_deletes(running: Running, tmp_path: Path):
    src = running.local / "step-1"
    (src / "sub").mkdir(parents=True)
    (src / "a.bin").write_bytes(b"a")
    (src / "sub" / "b.bin").write_bytes(b"b")
    running.wait_synced()

    os.rename(src, running.local / "step-2")  # moved within the tree
    running.wait_synced()
    assert keys(running.client, running.uri) == ["step-2/a.bin", "step-2/sub/b.bin"]

    outside = tmp_path / "elsewhere"
    os.rename(running.local / "step-2", outside)  # moved away
    running.wait_synced()
    assert keys(running.client, running.uri) == []

    os.rename(outside, running.local / "step-3")  # moved in from outside
    running.wait_synced()
    assert keys(running.client, running.uri) == ["step-3/a.bin", "step-3/sub/b.bin"]

    shutil.rmtree(running.local / "step-3")  # deleted
    running.wait_synced()
    assert keys(running.client, running.uri) == []
    assert_final(running)


@pytest.mark.parametrize("how", ["whole-object", "multipart"])
def test_large_file_is_uploaded_streamed(local: Path, uri: str, client: Any, how: str):
    # To a store configured for a server holding whole objects (moto): one streamed PUT, as
    # moto would copy a multipart object whole to assemble it. Otherwise: s3transfer's
    # multipart upload, through the mirror's one transfer manager.
    store = store_for(client, whole_object=how == "whole-object")
    # Uploaded once, on its close: a 64 MiB write() that outlasts quiet_seconds (a loaded
    # machine) would be uploaded mid-write too, then again after its close.
    run = Running(local, uri, client, store, quiet_seconds=60)
    run.mirror.start()
    try:
        data = os.urandom(64 * MiB)
        (local / "large.pt").write_bytes(data)

        run.wait_synced(timeout=60)

        assert s3_manifest(client, uri)["large.pt"].sha256 == sha(data)
        [event] = [e for e in run.events if e.kind == "uploaded"]
        assert event.sha256 == sha(data)
        bucket = uri.split("/")[2]
        head = client.head_object(Bucket=bucket, Key="jobs/ckpt/large.pt")
        assert ("-" in head["ETag"]) == (how == "multipart")  # a multipart upload's ETag
        assert head["ContentLength"] == 64 * MiB
        assert_final(run)
    finally:
        run.mirror.stop()


def test_sagemaker_ignore_files_are_not_uploaded(running: Running):
    (running.local / "scratch.sagemaker-ignore").write_text("local only")
    (running.local / "kept.txt").write_text("kept")

    running.wait_synced()
    assert_final(running)
    assert keys(running.client, running.uri) == ["kept.txt"]


def test_symlinks_are_never_followed(running: Running, tmp_path: Path):
    secret_dir = tmp_path / "host-secrets"
    secret_dir.mkdir()
    (secret_dir / "password").write_text("hunter2")
    (running.local / "leak").symlink_to(secret_dir / "password")
    (running.local / "leakdir").symlink_to(secret_dir, target_is_directory=True)
    (running.local / "real.txt").write_text("real")

    running.wait_synced()
    assert_final(running)

    assert keys(running.client, running.uri) == ["real.txt"]
    manifest = local_manifest(running.local)
    assert sorted(manifest.skipped) == ["leak", "leakdir"]


def test_a_file_replaced_by_a_symlink_is_deleted_not_followed(running: Running, tmp_path: Path):
    (tmp_path / "secret").write_text("do not upload")
    (running.local / "f").write_text("ok")
    running.wait_synced()

    (running.local / "f").unlink()
    (running.local / "f").symlink_to(tmp_path / "secret")

    assert_final(running)
    assert keys(running.client, running.uri) == []


def test_stop_without_flush_loses_pending_uploads_stop_with_flush_keeps_them(
    local: Path, uri: str, client: Any
):
    # A long settle time keeps the uploads pending, as at the moment of a kill.
    lossy = Running(local, uri, client, settle_seconds=30)
    lossy.mirror.start()
    (local / "epoch-1.pt").write_bytes(b"1")
    (local / "epoch-2.pt").write_bytes(b"2")
    wait_for(lambda: lossy.mirror._queue.size() == 2, 5, lambda: "events never arrived")

    report = lossy.mirror.stop(flush=False)

    assert report.dropped == ["epoch-1.pt", "epoch-2.pt"] and report.uploaded == []
    assert keys(client, uri) == []
    assert lossy.mirror.stop(flush=False) is report  # idempotent

    keeper = Running(local, uri, client, settle_seconds=30)
    keeper.mirror.start()
    (local / "epoch-3.pt").write_bytes(b"3")

    report = keeper.mirror.stop(flush=True)

    assert sorted(e.path for e in report.uploaded) == ["epoch-1.pt", "epoch-2.pt", "epoch-3.pt"]
    assert verify_mirror(client, uri, local) == []


def test_s3_outage_mid_sync_ends_with_s3_equal_to_local(s3: MotoS3, local: Path, uri: str):
    client = s3.client(max_attempts=1)
    run = Running(local, uri, client, retry_seconds=60)
    run.mirror.start()
    try:
        (local / "before.pt").write_bytes(b"before")
        (local / "doomed.pt").write_bytes(b"doomed")
        run.wait_synced()

        with s3.outage():
            (local / "during-1.pt").write_bytes(b"d1")
            (local / "sub").mkdir()
            (local / "sub" / "during-2.pt").write_bytes(b"d2")
            (local / "before.pt").write_bytes(b"changed while S3 was down")
            (local / "doomed.pt").unlink()
            wait_for(lambda: len(run.kinds("error")) >= 4, 30, lambda: f"{run.events}")

        report = run.mirror.flush(timeout=30)

        assert report.ok, report.errors
        assert {r.split(":")[0] for r in report.recovered} >= {"during-1.pt", "doomed.pt"}
        assert verify_mirror(client, uri, local) == []
        assert keys(client, uri) == ["before.pt", "during-1.pt", "sub/during-2.pt"]
    finally:
        run.mirror.stop()


def test_unresolved_errors_are_reported_and_raised(local: Path, s3: MotoS3):
    client = s3.client()
    bucket = s3.new_bucket(client)
    run = Running(local, f"s3://{bucket}/ckpt", client)
    with pytest.raises(CheckpointError, match=r"a\.txt"), run.mirror:
        client.delete_bucket(Bucket=bucket)
        (local / "a.txt").write_text("nowhere to go")
        wait_for(lambda: bool(run.kinds("error")), 10, lambda: f"{run.events}")
        report = run.mirror.flush()
        assert not report.ok and report.errors[0].startswith("a.txt: ")
        assert "NoSuchBucket" in report.errors[0]


def test_start_fails_cleanly_when_the_prefix_cannot_be_read(local: Path, client: Any):
    mirror = CheckpointMirror(local, "s3://bucket-that-does-not-exist/ckpt", store_for(client))
    before = set(threading.enumerate())
    with pytest.raises(CheckpointError, match="cannot read checkpoint prefix"):
        mirror.start()
    # Every thread started meanwhile ends (the watcher's stop in the background, the S3
    # server's thread of the request): none is left running.
    started = set(threading.enumerate()) - before
    deadline = time.monotonic() + 10
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [t.name for t in started if t.is_alive()]
    assert not left, f"threads left running after a failed start: {left}"
    assert mirror.stop().ok  # stop after a failed start is a no-op


def test_only_objects_seen_locally_or_uploaded_are_ever_deleted(local: Path, uri: str, client: Any):
    bucket = uri.split("/")[2]
    client.put_object(Bucket=bucket, Key="jobs/ckpt/restored.pt", Body=b"from last run")
    restore(store_for(client), uri, local)
    # Written by another host after our restore: never brought down, never deleted.
    client.put_object(Bucket=bucket, Key="jobs/ckpt/algo-2.pt", Body=b"other host")

    run = Running(local, uri, client)
    with run.mirror:
        (local / "restored.pt").unlink()
        (local / "mine.pt").write_bytes(b"mine")
        wait_for(
            lambda: keys(client, uri) == ["algo-2.pt", "mine.pt"],
            10,
            lambda: f"{keys(client, uri)}",
        )
        report = run.mirror.flush()
        assert report.ok
    assert keys(client, uri) == ["algo-2.pt", "mine.pt"]
    assert verify_mirror(client, uri, local) == ["algo-2.pt: only in S3"]


def test_files_present_at_start_are_uploaded(local: Path, uri: str, client: Any):
    (local / "pre-existing.pt").write_bytes(b"was here first")
    run = Running(local, uri, client)
    with run.mirror:
        run.wait_synced()
    assert keys(client, uri) == ["pre-existing.pt"]


def test_a_dead_watcher_is_restarted_and_the_tree_rescanned(running: Running):
    observer = running.mirror.observer.current  # simulate watchdog dying on an internal error
    assert observer is not None
    observer.stop()
    observer.join()
    (running.local / "written-while-deaf.pt").write_bytes(b"x")

    running.wait_synced()

    assert running.mirror.observer.current is not observer
    (running.local / "after-restart.pt").write_bytes(b"y")
    running.wait_synced()
    assert_final(running)
