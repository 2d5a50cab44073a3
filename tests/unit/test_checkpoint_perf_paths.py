"""The checkpoint engine's fast paths, as pure logic: no S3, no timing."""

from __future__ import annotations

import datetime
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.checkpoints.retry import is_permanent
from emulator.checkpoints.transfer import HashingReader
from emulator.errors import CheckpointError
from emulator.storage.lean_store import LeanS3, _SigV4
from emulator.storage.s3xml import client_error as _client_error
from tests.unit._s3server import store_for

restore_module = sys.modules["emulator.checkpoints.restore"]

MiB = 1024 * 1024


class _FakeRanges:
    """Serves ranges of ``data`` like LeanS3.get_range; can change the ETag or fail a part."""

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


def _reader(tmp_path: Path, content: bytes, promised: int) -> tuple[HashingReader, int]:
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)
    return HashingReader(fd, promised), fd


def test_hashing_reader_hands_out_exactly_the_promised_bytes(tmp_path: Path):
    content = os.urandom(3 * MiB + 5)
    reader, fd = _reader(tmp_path, content, len(content))
    try:
        chunks = []
        while chunk := reader.read(MiB):
            chunks.append(chunk)
        assert b"".join(chunks) == content
        assert reader.complete and not reader.shrank
        assert reader.sha256() == hashlib.sha256(content).hexdigest()
    finally:
        os.close(fd)


def test_hashing_reader_pads_a_file_that_shrank(tmp_path: Path):
    reader, fd = _reader(tmp_path, b"abc", 10)
    try:
        assert reader.read() == b"abc" + b"\0" * 7
        assert reader.shrank and reader.complete
        assert reader.read(5) == b""
    finally:
        os.close(fd)


def test_hashing_reader_ignores_bytes_past_the_promised_size(tmp_path: Path):
    reader, fd = _reader(tmp_path, b"0123456789", 4)
    try:
        assert reader.read(100) == b"0123"
        assert reader.read(100) == b""
        assert reader.sha256() == hashlib.sha256(b"0123").hexdigest()
    finally:
        os.close(fd)


def test_errors_carry_the_s3_code_so_retries_classify_them():
    body = b"<?xml version='1.0'?><Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>"
    error = _client_error(404, body, "PutObject")
    assert error.response["Error"] == {"Code": "NoSuchBucket", "Message": "gone"}
    assert "NoSuchBucket" in str(error) and is_permanent(error)
    assert _client_error(503, b"", "GetObject").response["Error"]["Code"] == "503"
    assert not is_permanent(_client_error(503, b"", "GetObject"))


def _lean(url: str) -> LeanS3:
    return LeanS3(url, "us-east-1", Credentials("a", "b"), pool_size=1, whole_object=False,
                  multipart_client=None)


def test_lean_requests_are_signed_like_botocore_signs_them():
    lean = _lean("http://127.0.0.1:1")
    path = lean._path("bucket", "dir/a b+c.pt")
    assert path == "/bucket/dir/a%20b%2Bc.pt"
    headers = lean._signed_headers("PUT", path, "ab" * 32, {"Content-Length": "3"})
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=a/")
    assert "/us-east-1/s3/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Content-SHA256"] == "ab" * 32


class _BotocoreSigned(S3SigV4Auth):
    def __init__(self, credentials: Any, payload: str) -> None:
        super().__init__(credentials, "s3", "eu-west-3")
        self._payload = payload

    def payload(self, request: Any) -> str:
        return self._payload


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize(
    ("method", "path", "payload", "extra"),
    [
        ("GET", "/bucket/dir/a%20b%2Bc.pt", "e3" * 32, {"Range": "bytes=0-99"}),
        ("PUT", "/bucket/k", "ab" * 32, {"Content-Length": "3"}),
        ("PUT", "/bucket/big", "UNSIGNED-PAYLOAD", {"Content-Length": "1073741824"}),
        ("HEAD", "/bucket", "e3" * 32, {}),
        ("GET", "/bucket?continuation-token=a%2Fb%3D&encoding-type=url&list-type=2"
                "&prefix=ck%20pt%2F", "e3" * 32, {}),
    ],
)
def test_sigv4_matches_botocore(monkeypatch: pytest.MonkeyPatch, token: str | None, method: str,
                                path: str, payload: str, extra: dict[str, str]):
    when = datetime.datetime(2026, 11, 27, 8, 30, 15)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: when)
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    request = AWSRequest(method=method, url=f"http://127.0.0.1:4590{path}", headers=dict(extra))
    _BotocoreSigned(creds.get_frozen_credentials(), payload).add_auth(request)

    bare, _, query = path.partition("?")
    ours = _SigV4(creds, "eu-west-3", "127.0.0.1:4590").headers(
        method, bare, query, payload, dict(extra), now=when)

    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


AWKWARD = ["a b.pt", "plus+sign.pt", "pct%41.pt", "ünï/cödé.pt", "t~ilde=eq&amp.pt", "q?x.pt",
           "deep/er/still.pt"]


def test_lean_listing_and_restore_of_awkward_keys_against_moto(s3: Any, client: Any,
                                                               tmp_path: Path):
    bucket = s3.new_bucket(client)
    expected = {}
    for i, name in enumerate(AWKWARD):
        data = os.urandom(100 + i)
        client.put_object(Bucket=bucket, Key=f"ck pt/{name}", Body=data)
        expected[name] = data
    for i in range(15):
        client.put_object(Bucket=bucket, Key=f"ck pt/many/{i:04d}", Body=b"x")
    lean = _lean(client.meta.endpoint_url)
    try:
        listed = lean.list_objects(bucket, "ck pt/", page_size=4)  # several pages
    finally:
        lean.close()
    botocore_listed = [
        o for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                       Prefix="ck pt/")
        for o in page.get("Contents", [])
    ]
    assert [(o.key, o.size, o.etag) for o in listed] == [
        (o["Key"], o["Size"], o["ETag"]) for o in botocore_listed
    ]

    report = restore_module.restore(store_for(client), f"s3://{bucket}/ck pt", tmp_path / "out")

    for name, data in expected.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    by_path = {e.path: e for e in report.files}
    assert by_path["plus+sign.pt"].sha256 == hashlib.sha256(expected["plus+sign.pt"]).hexdigest()
    assert len(report.files) == len(AWKWARD) + 15
