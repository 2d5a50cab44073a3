"""LeanS3, the checkpoint engine's own S3 client for loopback endpoints: when it is chosen, how
it signs (exactly as botocore does), its errors, and listing and restoring awkward keys."""

from __future__ import annotations

import datetime
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.checkpoints.retry import is_permanent
from emulator.storage.lean_store import LeanS3, _SigV4
from emulator.storage.s3xml import client_error as _client_error
from tests.unit._s3server import store_for

restore_module = sys.modules["emulator.checkpoints.restore"]


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
