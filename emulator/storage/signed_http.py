"""The blob store as plain HTTP requests: botocore's own SigV4 signer, sent over urllib3.

Skips botocore's per-request machinery (event hooks, serializers, response parsers) while
signing exactly as botocore does, with its public ``S3SigV4Auth``. Path-style URLs; no
retries here (the caller retries); errors as ``ClientError`` with S3's code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import urllib3
from boto3.s3.transfer import TransferConfig
from botocore.auth import UNSIGNED_PAYLOAD, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.storage.blobstore import Readable, Sink, StoredObject, Transfers
from emulator.storage.boto_store import BotoTransfers, check_range
from emulator.storage.s3xml import EMPTY_SHA256, client_error, listing_query, parse_listing

_READ_BLOCK = 1024 * 1024


class _KnownPayloadAuth(S3SigV4Auth):
    """Signs with the payload hash the caller already has (or UNSIGNED-PAYLOAD for a stream)
    instead of reading the body again to hash it."""

    def payload(self, request: Any) -> str:
        known = request.context.get("payload_sha256")
        return str(known) if known else str(super().payload(request))


class SignedHttpStore:
    """A ``BlobStore`` over urllib3 (see the module docstring). Multipart uploads go through
    ``multipart_client`` (a boto3 client of the same endpoint)."""

    def __init__(self, endpoint_url: str, region: str, access_key: str, secret_key: str, *,
                 pool_size: int, whole_object: bool, multipart_client: Any,
                 connect_timeout: float = 60.0, read_timeout: float = 60.0) -> None:
        self._base = endpoint_url.rstrip("/")
        self._auth = _KnownPayloadAuth(Credentials(access_key, secret_key), "s3", region)
        self._http = urllib3.PoolManager(
            num_pools=4, maxsize=max(1, pool_size), block=False, retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout))
        self._whole_object = whole_object
        self._multipart_client = multipart_client

    @property
    def whole_object(self) -> bool:
        return self._whole_object

    def _url(self, bucket: str, key: str = "", query: str = "") -> str:
        url = f"{self._base}/{quote(bucket, safe='')}"
        if key:
            url += f"/{quote(key, safe='/~')}"
        return f"{url}?{query}" if query else url

    def _send(self, method: str, url: str, *, payload_sha256: str, body: Any = None,
              headers: dict[str, str] | None = None, stream: bool = False) -> Any:
        request = AWSRequest(method=method, url=url, headers=headers or {})
        request.context["payload_sha256"] = payload_sha256
        self._auth.add_auth(request)
        return self._http.urlopen(method, url, body=body, headers=dict(request.headers.items()),
                                  retries=False, redirect=False, preload_content=not stream)

    def list_objects(self, bucket: str, prefix: str) -> list[StoredObject]:
        objects: list[StoredObject] = []
        token: str | None = None
        while True:
            url = self._url(bucket, query=listing_query(prefix, token))
            response = self._send("GET", url, payload_sha256=EMPTY_SHA256)
            if response.status >= 300:
                raise client_error(response.status, response.data, "ListObjectsV2")
            page, token = parse_listing(response.data)
            objects.extend(page)
            if token is None:
                return objects

    def put_bytes(self, bucket: str, key: str, data: bytes, sha256_hex: str) -> None:
        response = self._send("PUT", self._url(bucket, key), payload_sha256=sha256_hex,
                              body=data, headers={"Content-Length": str(len(data))})
        if response.status >= 300:
            raise client_error(response.status, response.data, "PutObject")

    def put_stream(self, bucket: str, key: str, body: Readable, length: int) -> None:
        response = self._send("PUT", self._url(bucket, key), payload_sha256=UNSIGNED_PAYLOAD,
                              body=_Chunks(body), headers={"Content-Length": str(length)})
        if response.status >= 300:
            raise client_error(response.status, response.data, "PutObject")

    def get_stream(self, bucket: str, key: str, sink: Sink) -> None:
        response = self._send("GET", self._url(bucket, key), payload_sha256=EMPTY_SHA256,
                              stream=True)
        try:
            if response.status >= 300:
                raise client_error(response.status, response.read(), "GetObject")
            for chunk in response.stream(_READ_BLOCK, decode_content=False):
                sink(chunk)
        finally:
            response.release_conn()

    def get_range(self, bucket: str, key: str, start: int,
                  length: int) -> tuple[bytes | bytearray, str]:
        end = start + length - 1
        response = self._send("GET", self._url(bucket, key), payload_sha256=EMPTY_SHA256,
                              headers={"Range": f"bytes={start}-{end}"})
        if response.status >= 300:
            raise client_error(response.status, response.data, "GetObject")
        data = response.data
        check_range(data, start, length, response.status,
                    response.headers.get("content-range", ""))
        return data, str(response.headers.get("etag", ""))

    def delete(self, bucket: str, key: str) -> None:
        response = self._send("DELETE", self._url(bucket, key), payload_sha256=EMPTY_SHA256)
        if response.status >= 300:
            raise client_error(response.status, response.data, "DeleteObject")

    def transfers(self, config: TransferConfig) -> Transfers:
        return BotoTransfers(self._multipart_client, config)

    def close(self) -> None:
        self._http.clear()


class _Chunks:
    """A body urllib3 sends as it reads it, in large pieces."""

    def __init__(self, body: Readable) -> None:
        self._body = body

    def __iter__(self) -> Any:
        while chunk := self._body.read(_READ_BLOCK):
            yield chunk
