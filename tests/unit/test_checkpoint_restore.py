"""restore(): everything under the prefix comes down before the container starts, safely."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from emulator.checkpoints import CheckpointMirror, join_key, parse_s3_uri, restore, verify_mirror
from emulator.errors import CheckpointError
from tests.unit._s3server import MotoS3, store_for

restore_module = sys.modules["emulator.checkpoints.restore"]


@pytest.fixture
def bucket(s3: MotoS3, client: Any) -> str:
    return s3.new_bucket(client)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_restores_nested_keys_markers_and_empty_files(client: Any, bucket: str, tmp_path: Path):
    objects = {
        "ckpt/model.pt": b"weights" * 1000,
        "ckpt/step-10/optimizer.pt": b"adam",
        "ckpt/step-10/deep/er/state.json": b"{}",
        "ckpt/empty": b"",
        "ckpt/logs/": b"",  # a directory marker
        "other/ignored.txt": b"not under the prefix",
        "ckptx/also-not": b"shares the prefix's letters only",
    }
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    seen: list[tuple[int, int, str]] = []
    local = tmp_path / "restore-here"

    report = restore(
        store_for(client),
        f"s3://{bucket}/ckpt",
        local,
        progress=lambda done, total, path: seen.append((done, total, path)),
        string_prefix=False,
    )

    expected = {k[len("ckpt/") :]: v for k, v in objects.items() if k.startswith("ckpt/")}
    files = {k: v for k, v in expected.items() if not k.endswith("/")}
    assert sorted(e.path for e in report.files) == sorted(files)
    for entry in report.files:
        assert (local / entry.path).read_bytes() == files[entry.path]
        assert entry.size == len(files[entry.path])
        assert entry.sha256 == _sha(files[entry.path])
    assert (local / "logs").is_dir()
    assert report.directories == ["logs"]
    assert report.total_bytes == sum(len(v) for v in files.values())
    assert report.seconds >= 0
    assert seen and seen[-1][0] == seen[-1][1] == report.total_bytes
    assert not (local / "ignored.txt").exists() and not (local / "also-not").exists()
    assert verify_mirror(client, f"s3://{bucket}/ckpt/", local) == []
    assert report.siblings == []


def test_a_uri_without_slash_is_a_string_prefix(client: Any, bucket: str, tmp_path: Path):
    """SageMaker's way (syne-tune PR #363): s3://b/ASHA-1 restores ASHA-10 and ASHA-11 too,
    each key as the key minus the prefix string, a leading '/' dropped."""
    objects = {
        "ASHA-1/checkpoint.json": b"mine",
        "ASHA-1/sub/state.pt": b"state",
        "ASHA-10/checkpoint.json": b"sibling 10",
        "ASHA-11/deep/x.pt": b"sibling 11",
        "ASHA-1.json": b"a key that is its own sibling",
        "ASHA-1checkpoint.json": b"loses against ASHA-1/checkpoint.json",
        "ASHA-2/checkpoint.json": b"not a match",
    }
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    local = tmp_path / "string"
    report = restore(store_for(client), f"s3://{bucket}/ASHA-1", local)
    assert {e.path: (local / e.path).read_bytes() for e in report.files} == {
        "checkpoint.json": b"mine", "sub/state.pt": b"state",
        "0/checkpoint.json": b"sibling 10", "1/deep/x.pt": b"sibling 11",
        ".json": b"a key that is its own sibling"}
    assert report.siblings == [f"s3://{bucket}/ASHA-1.json", f"s3://{bucket}/ASHA-10",
                               f"s3://{bucket}/ASHA-11", f"s3://{bucket}/ASHA-1checkpoint.json"]

    # A trailing '/' is a directory: only the prefix's own keys, no siblings.
    own = tmp_path / "slash"
    report = restore(store_for(client), f"s3://{bucket}/ASHA-1/", own)
    assert sorted(e.path for e in report.files) == ["checkpoint.json", "sub/state.pt"]
    assert report.siblings == []
    # The directory setting without the slash: the same.
    same = restore(store_for(client), f"s3://{bucket}/ASHA-1", tmp_path / "dir",
                   string_prefix=False)
    assert sorted(e.path for e in same.files) == ["checkpoint.json", "sub/state.pt"]


@pytest.mark.parametrize(
    "bad_key",
    ["ckpt/../evil", "ckpt/sub/../../evil", "ckpt//etc/passwd", "ckpt/a/./b", "ckpt/a//b"],
)
def test_refuses_keys_that_escape_and_writes_nothing(
    client: Any, bucket: str, tmp_path: Path, bad_key: str
):
    client.put_object(Bucket=bucket, Key="ckpt/fine.txt", Body=b"ok")
    client.put_object(Bucket=bucket, Key=bad_key, Body=b"evil")
    local = tmp_path / "ckpt"

    with pytest.raises(CheckpointError) as err:
        restore(store_for(client), f"s3://{bucket}/ckpt", local)

    assert repr(bad_key) in str(err.value)
    assert not (tmp_path / "evil").exists()
    assert not local.exists() or list(local.iterdir()) == []


def test_refuses_a_key_that_is_both_file_and_directory(client: Any, bucket: str, tmp_path: Path):
    client.put_object(Bucket=bucket, Key="ckpt/a", Body=b"file")
    client.put_object(Bucket=bucket, Key="ckpt/a/b", Body=b"under the file")
    with pytest.raises(CheckpointError, match="ckpt/a"):
        restore(store_for(client), f"s3://{bucket}/ckpt", tmp_path / "ckpt")


def test_refuses_to_write_through_a_symlinked_directory(client: Any, bucket: str, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    local = tmp_path / "ckpt"
    local.mkdir()
    (local / "sub").symlink_to(outside, target_is_directory=True)
    client.put_object(Bucket=bucket, Key="ckpt/sub/x", Body=b"x")
    with pytest.raises(CheckpointError, match="symlink"):
        restore(store_for(client), f"s3://{bucket}/ckpt", local)
    assert list(outside.iterdir()) == []


def test_empty_prefix_restores_nothing(client: Any, bucket: str, tmp_path: Path):
    report = restore(store_for(client), f"s3://{bucket}/nothing-here", tmp_path / "ckpt")
    assert report.files == [] and report.total_bytes == 0
    assert (tmp_path / "ckpt").is_dir()


def test_missing_bucket_is_a_checkpoint_error(client: Any, tmp_path: Path):
    with pytest.raises(CheckpointError, match="cannot list"):
        restore(store_for(client), "s3://no-such-bucket-here/ckpt", tmp_path / "ckpt")


def test_restored_files_are_not_uploaded_again(client: Any, bucket: str, tmp_path: Path):
    uri = f"s3://{bucket}/run1"
    client.put_object(Bucket=bucket, Key="run1/a.bin", Body=b"a" * 100)
    client.put_object(Bucket=bucket, Key="run1/d/b.bin", Body=b"b" * 10)
    local = tmp_path / "ckpt"
    restore(store_for(client), uri, local)

    mirror = CheckpointMirror(local, uri, store_for(client)).start()
    report = mirror.stop()

    assert report.uploaded == [] and report.deleted == [] and report.ok
    assert verify_mirror(client, uri, local) == []


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://b/ckpt", "b", "ckpt/"),
        ("s3://b/ckpt/", "b", "ckpt/"),
        ("s3://b/a/b/c", "b", "a/b/c/"),
        ("s3://b", "b", ""),
        ("s3://b/", "b", ""),
    ],
)
def test_parse_s3_uri(uri: str, bucket: str, prefix: str):
    loc = parse_s3_uri(uri)
    assert (loc.bucket, loc.prefix) == (bucket, prefix)
    assert loc.key_for("x/y.pt") == f"{prefix}x/y.pt"
    assert join_key(prefix.rstrip("/"), "z") == f"{prefix}z"


@pytest.mark.parametrize("uri", ["b/ckpt", "s3://", "s3:///ckpt", "https://b/ckpt"])
def test_parse_s3_uri_refuses_what_is_not_an_s3_uri(uri: str):
    with pytest.raises(CheckpointError):
        parse_s3_uri(uri)


# Ranged (parallel part) downloads of one big object, against a fake that serves ranges.
class _FakeRanges:
    """Serves ranges of ``data`` like BlobStore.get_range; can change the ETag or fail a part."""

    def __init__(self, data: bytes, *, change_at: int | None = None,
                 fail_at: int | None = None) -> None:
        self.data = data
        self.change_at = change_at
        self.fail_at = fail_at
        self.asked: list[tuple[int, int]] = []

    def get_range(self, bucket: str, key: str, start: int, length: int) -> tuple[bytes, str]:
        self.asked.append((start, length))
        if start == self.fail_at:
            raise ConnectionError("reset")
        etag = "v2" if self.change_at is not None and start >= self.change_at else "v1"
        return self.data[start:start + length], etag


def _ranged(fake: _FakeRanges, target: Path, part: int = 1000, ahead: int = 3) -> str:
    cfg = TransferConfig(multipart_chunksize=part, max_concurrency=ahead)
    counted: list[int] = []
    sha: str = restore_module._get_ranged(fake, "b", "k", len(fake.data), target,
                                          counted.append, cfg)
    assert sum(counted) == len(fake.data)
    return sha


@pytest.mark.parametrize("size", [1, 999, 1000, 1001, 7777])
def test_ranged_download_writes_and_hashes_in_order(tmp_path: Path, size: int):
    data = os.urandom(size)
    fake = _FakeRanges(data)
    target = tmp_path / "big.bin"

    sha = _ranged(fake, target)

    assert target.read_bytes() == data
    assert sha == hashlib.sha256(data).hexdigest()
    assert sorted(fake.asked) == [(s, min(1000, size - s)) for s in range(0, size, 1000)]
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]  # no temp file left


def test_ranged_download_refuses_parts_of_two_versions(tmp_path: Path):
    fake = _FakeRanges(os.urandom(5000), change_at=3000)
    with pytest.raises(CheckpointError, match="changed while it was downloaded"):
        _ranged(fake, tmp_path / "big.bin")
    assert list(tmp_path.iterdir()) == []


def test_ranged_download_failure_leaves_nothing(tmp_path: Path):
    fake = _FakeRanges(os.urandom(5000), fail_at=2000)
    with pytest.raises(ConnectionError):
        _ranged(fake, tmp_path / "big.bin")
    assert list(tmp_path.iterdir()) == []


AWKWARD = ["a b.pt", "plus+sign.pt", "pct%41.pt", "ünï/cödé.pt", "t~ilde=eq&amp.pt", "q?x.pt",
           "deep/er/still.pt"]


def test_restore_of_awkward_keys_against_moto(s3: Any, client: Any, tmp_path: Path):
    bucket = s3.new_bucket(client)
    expected = {}
    for i, name in enumerate(AWKWARD):
        data = os.urandom(100 + i)
        client.put_object(Bucket=bucket, Key=f"ck pt/{name}", Body=data)
        expected[name] = data
    for i in range(15):
        client.put_object(Bucket=bucket, Key=f"ck pt/many/{i:04d}", Body=b"x")

    report = restore(store_for(client), f"s3://{bucket}/ck pt", tmp_path / "out")

    for name, data in expected.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    by_path = {e.path: e for e in report.files}
    assert by_path["plus+sign.pt"].sha256 == hashlib.sha256(expected["plus+sign.pt"]).hexdigest()
    assert len(report.files) == len(AWKWARD) + 15
