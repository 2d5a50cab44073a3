"""Lean S3 requests for an S3 on this machine: SigV4-signed, over a minimal HTTP/1.1 client.

Measured on 2 cores against ``rclone serve s3`` (see bench/results.md): one ``get_object`` of a
256 KiB object costs ~2.2 ms of client CPU on one thread and ~4.5 ms with 16 threads sharing
the GIL, most of it botocore's per-request machinery (event hooks, serializers, response
parsing with dateutil, ...). With thousands of small checkpoint files and the S3 server on the
same two cores, that CPU *is* the transfer time. The same request SigV4-signed here (equal
to botocore's signature, see the tests) and sent over a minimal keep-alive HTTP/1.1 client
(http1.py) costs ~0.4 ms, most of it moving the 256 KiB.

Used only for what it can do exactly as botocore would: single-request GetObject (whole or a
range), PutObject, HeadBucket and ListObjectsV2, path-style, to an ``http://`` endpoint on a
loopback address, for a botocore S3 client whose credentials sign with SigV4 and that has no
proxy. Everything else (multipart, deletes, other endpoints, wrapped or stubbed clients) goes
through the client itself. Errors are raised as botocore ``ClientError`` with S3's error code,
so callers classify and retry them the same way. Small PUT bodies are signed with their
SHA-256 (which the mirror computes anyway), so the server checks the bytes it stores.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.auth import UNSIGNED_PAYLOAD

from emulator.storage.blobstore import StoredObject, Transfers
from emulator.storage.boto_store import BotoTransfers, check_range
from emulator.storage.http1 import Http1Pool
from emulator.storage.s3xml import EMPTY_SHA256 as _EMPTY_SHA256
from emulator.storage.s3xml import client_error as _client_error
from emulator.storage.s3xml import listing_query, parse_listing


class _SigV4:
    """AWS Signature Version 4 for S3 header-signed requests, as botocore's S3SigV4Auth signs
    them (tests compare the two), with the day's signing key kept instead of derived anew for
    every request. Credentials are read (frozen) per request, so refreshed ones are used."""

    def __init__(self, credentials: Any, region: str, host: str) -> None:
        self._credentials = credentials
        self._region = region
        self._host = host
        self._key: tuple[str, str, bytes] | None = None  # (secret, day, key)
        self._lock = threading.Lock()

    def _signing_key(self, secret: str, day: str) -> bytes:
        with self._lock:
            if self._key is None or self._key[:2] != (secret, day):
                key = _hmac(f"AWS4{secret}".encode(), day)
                for part in (self._region, "s3", "aws4_request"):
                    key = _hmac(key, part)
                self._key = (secret, day, key)
            return self._key[2]

    def headers(self, method: str, path: str, query: str, payload_sha256: str,
                extra: dict[str, str] | None = None,
                now: datetime.datetime | None = None) -> dict[str, str]:
        """The headers to send (``extra`` included, Host excluded: the client sets it)."""
        creds = self._credentials.get_frozen_credentials()
        stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        headers = dict(extra or {})
        headers["X-Amz-Date"] = stamp
        headers["X-Amz-Content-SHA256"] = payload_sha256
        if creds.token:
            headers["X-Amz-Security-Token"] = creds.token
        signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
        signed["host"] = self._host
        names = sorted(signed)
        canonical = "\n".join([
            method, path, query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload_sha256,
        ])
        scope = f"{day}/{self._region}/s3/aws4_request"
        to_sign = "\n".join([
            "AWS4-HMAC-SHA256", stamp, scope,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ])
        signature = hmac.new(self._signing_key(creds.secret_key, day), to_sign.encode("utf-8"),
                             hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return headers


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


class LeanS3:
    """Signed S3 requests over keep-alive connections (a ``BlobStore``); see the module
    docstring. Multipart uploads go through ``multipart_client`` (a boto3 client)."""

    def __init__(self, endpoint_url: str, region: str, credentials: Any, *, pool_size: int,
                 whole_object: bool, multipart_client: Any,
                 connect_timeout: float = 60.0, read_timeout: float = 60.0) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain http endpoint: {endpoint_url!r}")
        self._root = parts.path.rstrip("/")
        self._pool = Http1Pool(parts.hostname, parts.port or 80, size=pool_size,
                               connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._signer = _SigV4(credentials, region, self._pool.host_header)
        self._whole_object = whole_object
        self._multipart_client = multipart_client

    @property
    def whole_object(self) -> bool:
        return self._whole_object

    def transfers(self, config: TransferConfig) -> Transfers:
        return BotoTransfers(self._multipart_client, config)

    def delete(self, bucket: str, key: str) -> None:
        path = self._path(bucket, key)
        headers = self._signed_headers("DELETE", path, _EMPTY_SHA256)
        response = self._pool.request("DELETE", path, headers)
        if response.status >= 300:
            raise _client_error(response.status, response.body, "DeleteObject")

    # -- requests ------------------------------------------------------------------------

    def _path(self, bucket: str, key: str) -> str:
        return f"{self._root}/{quote(bucket, safe='')}/{quote(key, safe='/~')}"

    def _signed_headers(self, method: str, path: str, payload_sha256: str,
                        extra: dict[str, str] | None = None) -> dict[str, str]:
        path, _, query = path.partition("?")
        return self._signer.headers(method, path, query, payload_sha256, extra)

    def list_objects(self, bucket: str, prefix: str, *,
                     page_size: int | None = None) -> list[StoredObject]:
        """ListObjectsV2 across pages (keys URL-encoded on the wire and decoded here)."""
        objects: list[StoredObject] = []
        token: str | None = None
        while True:
            encoded = listing_query(prefix, token, page_size)
            path = f"{self._root}/{quote(bucket, safe='')}"
            headers = self._signed_headers("GET", f"{path}?{encoded}", _EMPTY_SHA256)
            response = self._pool.request("GET", f"{path}?{encoded}", headers)
            if response.status >= 300:
                raise _client_error(response.status, response.body, "ListObjectsV2")
            page, token = parse_listing(response.body)
            objects.extend(page)
            if token is None:
                return objects

    def put_stream(self, bucket: str, key: str, body: Any, length: int) -> None:
        """PutObject of ``length`` bytes read from ``body`` (``read(n)``) as they are sent, in
        one request (``UNSIGNED-PAYLOAD``: the caller hashes what it sends). Not retried here:
        the body cannot be replayed, the caller starts over."""
        path = self._path(bucket, key)
        headers = self._signed_headers(
            "PUT", path, UNSIGNED_PAYLOAD, {"Content-Length": str(length)}
        )
        response = self._pool.request("PUT", path, headers, body=body, replayable=False)
        if response.status >= 300:
            raise _client_error(response.status, response.body, "PutObject")

    def head(self, bucket: str, key: str) -> dict[str, str]:
        """HeadObject: the response headers, lower-cased."""
        path = self._path(bucket, key)
        headers = self._signed_headers("HEAD", path, _EMPTY_SHA256)
        response = self._pool.request("HEAD", path, headers)
        if response.status >= 300:
            raise _client_error(response.status, b"", "HeadObject")
        return response.headers

    def get_range(self, bucket: str, key: str, start: int,
                  length: int) -> tuple[bytes | bytearray, str]:
        """Bytes ``start`` to ``start + length`` of the object (exactly that many, or this
        raises) and the object's ETag."""
        path = self._path(bucket, key)
        headers = self._signed_headers(
            "GET", path, _EMPTY_SHA256, {"Range": f"bytes={start}-{start + length - 1}"}
        )
        response = self._pool.request("GET", path, headers)
        if response.status >= 300:
            raise _client_error(response.status, response.body, "GetObject")
        data = response.body
        check_range(data, start, length, response.status,
                    response.headers.get("content-range", ""))
        return data, response.headers.get("etag", "")

    def put_bytes(self, bucket: str, key: str, data: bytes, sha256_hex: str) -> None:
        """PutObject of ``data`` whose SHA-256 is ``sha256_hex`` (signed, checked by S3)."""
        path = self._path(bucket, key)
        headers = self._signed_headers(
            "PUT", path, sha256_hex, {"Content-Length": str(len(data))}
        )
        response = self._pool.request("PUT", path, headers, body=data)
        if response.status >= 300:
            raise _client_error(response.status, response.body, "PutObject")

    def get_stream(self, bucket: str, key: str, sink: Callable[[bytes], None]) -> None:
        """GetObject, every piece of the body handed to ``sink`` as it arrives. A body that
        ends before its Content-Length raises."""
        path = self._path(bucket, key)
        headers = self._signed_headers("GET", path, _EMPTY_SHA256)
        response = self._pool.request("GET", path, headers, sink=sink)
        if response.status >= 300:
            raise _client_error(response.status, response.body, "GetObject")

    def close(self) -> None:
        self._pool.close()
