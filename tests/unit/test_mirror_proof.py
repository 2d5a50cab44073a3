"""The end-of-attempt proof with the mirror's own hashes: no byte read twice, changes still found.

Against a real moto S3 over HTTP (tests/unit/conftest.py), through the three upload paths: one
PUT of a small file, one streamed PUT of a large one (a server holding whole objects), and a
multipart upload of a large one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from emulator.checkpoints import CheckpointMirror, parse_s3_uri, restore, verify_mirror
from emulator.checkpoints import manifest as manifest_module
from emulator.checkpoints.localfs import FileSig, OpenedFile
from emulator.checkpoints.manifest import KnownUpload, known_from_restore
from tests.unit._s3server import store_for

MiB = 1024 * 1024
AN_HOUR_AGO = time.time() - 3600


def mirrored(local: Path, uri: str, client: Any, whole_object: bool) -> CheckpointMirror:
    """Two files written an hour ago, uploaded by a mirror that then stopped (flushed)."""
    (local / "small.json").write_bytes(os.urandom(1000))
    (local / "sub").mkdir()
    (local / "sub" / "large.pt").write_bytes(os.urandom(9 * MiB))  # above the 8 MiB threshold
    for path in (local / "small.json", local / "sub" / "large.pt"):
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    mirror = CheckpointMirror(local, uri, store_for(client, whole_object=whole_object))
    mirror.start()
    assert not mirror.stop(flush=True).errors
    return mirror


@pytest.fixture(params=["whole-object", "multipart"])
def whole_object(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "whole-object")


@pytest.fixture
def no_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a local file or an object to hash it fails the test."""
    def read_file(self: OpenedFile) -> str:
        raise AssertionError(f"the proof read {self.read_path} again")

    def read_object(client: Any, bucket: str, key: str, rel: str) -> None:
        raise AssertionError(f"the proof downloaded {key} again")

    monkeypatch.setattr(OpenedFile, "sha256", read_file)
    monkeypatch.setattr(manifest_module, "_hash_object", read_object)


def test_the_proof_reads_nothing_the_mirror_hashed(local: Path, uri: str, client: Any,
                                                    whole_object: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = mirrored(local, uri, client, whole_object)
    known = mirror.known_uploads()
    assert sorted(known) == ["small.json", "sub/large.pt"]
    assert all(k.etag for k in known.values())  # every upload path learnt its ETag
    reads: list[str] = []
    real_sha256 = OpenedFile.sha256
    monkeypatch.setattr(OpenedFile, "sha256", lambda self: reads.append(self.read_path)
                        or real_sha256(self))
    monkeypatch.setattr(manifest_module, "_hash_object", lambda *args: reads.append(args[2]))
    assert verify_mirror(client, uri, local, known) == []
    assert reads == []
    # Without the mirror's hashes, the same proof reads everything (both sides) again.
    verify_mirror(client, uri, local)
    assert len(reads) == 4


def test_a_file_changed_after_its_upload_is_found(local: Path, uri: str, client: Any,
                                                   whole_object: bool) -> None:
    mirror = mirrored(local, uri, client, whole_object)
    (local / "small.json").write_bytes(os.urandom(1000))  # same size, new content and mtime
    assert verify_mirror(client, uri, local, mirror.known_uploads()) == [
        "small.json: content differs between local and S3"]


def test_an_object_replaced_after_its_upload_is_found(local: Path, uri: str, client: Any,
                                                       whole_object: bool) -> None:
    mirror = mirrored(local, uri, client, whole_object)
    loc = parse_s3_uri(uri)
    client.put_object(Bucket=loc.bucket, Key=loc.key_for("sub/large.pt"),
                      Body=os.urandom(9 * MiB))  # same size, another ETag
    assert verify_mirror(client, uri, local, mirror.known_uploads()) == [
        "sub/large.pt: content differs between local and S3"]


def test_files_and_objects_the_mirror_never_uploaded_are_still_compared(
        local: Path, uri: str, client: Any, no_reading: None) -> None:
    loc = parse_s3_uri(uri)
    client.put_object(Bucket=loc.bucket, Key=loc.key_for("other.bin"), Body=b"x")
    with pytest.raises(AssertionError, match="downloaded"):
        verify_mirror(client, uri, local, {})


def test_a_version_written_within_the_timestamp_granularity_is_hashed_again() -> None:
    read_at = time.time_ns()
    old = FileSig(10, read_at - 10_000_000_000, 7)
    racy = FileSig(10, read_at - 1_000_000, 7)  # modified 1 ms before the mirror read it
    assert KnownUpload(old, "a" * 64, '"etag"', read_at).vouches_for_file(old)
    assert not KnownUpload(racy, "a" * 64, '"etag"', read_at).vouches_for_file(racy)
    assert not KnownUpload(old, "a" * 64, '"etag"', read_at).vouches_for_file(
        FileSig(10, old.mtime_ns + 1, 7))
    assert not KnownUpload(old, "a" * 64, "", read_at).vouches_for_object(10, "")


def test_restored_files_are_not_read_again(local: Path, uri: str, client: Any,
                                            whole_object: bool, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    mirrored(local, uri, client, whole_object)
    again = tmp_path / "next-attempt"
    report = restore(store_for(client, whole_object=whole_object), uri, again)
    time.sleep(0.05)  # past the timestamp granularity of the restore's last write
    known = known_from_restore(report, again)
    assert sorted(known) == ["small.json", "sub/large.pt"]
    reads: list[str] = []
    monkeypatch.setattr(OpenedFile, "sha256", lambda self: reads.append(self.read_path) or "")
    monkeypatch.setattr(manifest_module, "_hash_object", lambda *args: reads.append(args[2]))
    assert verify_mirror(client, uri, again, known) == []
    assert reads == []
    (again / "sub" / "large.pt").write_bytes(b"trained further")  # the next attempt's write
    assert verify_mirror(client, uri, again, known) != []
    assert len(reads) == 1  # that file only
