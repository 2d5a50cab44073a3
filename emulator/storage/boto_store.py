"""The blob store over a boto3 S3 client, and one s3transfer manager for multipart uploads.

The client is built for this use by ``S3Endpoint.blob_store``: no botocore retries (the caller
retries) and payload signing off (a streamed body is read once, as it is sent, not first read
whole to hash it).
"""

from __future__ import annotations

import threading
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3transfer.manager import TransferManager
from s3transfer.utils import OSUtils, ReadFileChunk

from emulator.storage.blobstore import Readable, Sink, StoredObject

_READ_BLOCK = 1024 * 1024


class BotoBlobStore:
    """A ``BlobStore`` speaking through ``client`` (see the module docstring)."""

    def __init__(self, client: Any, *, whole_object: bool = False) -> None:
        self.client = client
        self._whole_object = whole_object

    @property
    def whole_object(self) -> bool:
        return self._whole_object

    def list_objects(self, bucket: str, prefix: str) -> list[StoredObject]:
        objects: list[StoredObject] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                       Prefix=prefix)
        for page in pages:
            objects.extend(StoredObject(o["Key"], int(o.get("Size", 0)), o.get("ETag", ""))
                           for o in page.get("Contents", []))
        return objects

    def put_bytes(self, bucket: str, key: str, data: bytes, sha256_hex: str) -> str:
        return str(self.client.put_object(Bucket=bucket, Key=key, Body=data).get("ETag", ""))

    def put_stream(self, bucket: str, key: str, body: Readable, length: int) -> str:
        answer = self.client.put_object(Bucket=bucket, Key=key, Body=_Unseekable(body),
                                        ContentLength=length)
        return str(answer.get("ETag", ""))

    def get_stream(self, bucket: str, key: str, sink: Sink) -> None:
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            while chunk := body.read(_READ_BLOCK):
                sink(chunk)
        finally:
            body.close()

    def get_range(self, bucket: str, key: str, start: int,
                  length: int) -> tuple[bytes | bytearray, str]:
        end = start + length - 1
        response = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
        data = response["Body"].read()
        check_range(data, start, length, response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode"), str(response.get("ContentRange") or ""))
        return data, str(response.get("ETag", ""))

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

    def transfers(self, config: TransferConfig) -> BotoTransfers:
        return BotoTransfers(self.client, config)


def check_range(data: bytes | bytearray, start: int, length: int, status: object,
                content_range: str) -> None:
    """Raise unless ``data`` is exactly the range asked for. Some servers (rclone) answer 200
    with a Content-Range: the range is what counts."""
    ranged = content_range.startswith(f"bytes {start}-{start + length - 1}/") or (
        not content_range and status == 206)
    if not ranged or len(data) != length:
        raise ClientError(
            {"Error": {"Code": "IncompleteRange",
                       "Message": f"asked {length} bytes at {start}, got {len(data)} "
                                  f"(HTTP {status}, {content_range!r})"}},
            "GetObject",
        )


class _Unseekable:
    """Hides everything but ``read`` from botocore: the body is sent once, as it is read."""

    def __init__(self, body: Readable) -> None:
        self.read = body.read


class BotoTransfers:
    """One s3transfer ``TransferManager`` shared by all the multipart uploads of one user.

    s3transfer fixes an object's length when an upload starts; if the file then shrinks (a
    writer truncating it to rewrite it), a request would promise more bytes than it sends and
    hang until the read timeout. The chunk readers here pad such a short read to the promised
    length, and ``upload_file`` says so: the caller uploads the file again.
    """

    def __init__(self, client: Any, config: TransferConfig) -> None:
        self._osutil = _ShrinkTolerantOSUtils()
        self._manager = TransferManager(client, config, osutil=self._osutil)

    def upload_file(self, path: str, bucket: str, key: str) -> bool:
        self._osutil.forget(path)
        try:
            self._manager.upload(path, bucket, key).result()
        finally:
            shrank = self._osutil.forget(path)
        return shrank

    def close(self) -> None:
        self._manager.shutdown()


class _ShrinkTolerantOSUtils(OSUtils):
    """Opens files through ``_TrackedFile`` (which notes, by file name, that one ended early)
    and wraps their parts in chunk readers that pad to the promised length."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._shrank: set[str] = set()

    def mark(self, path: str) -> None:
        with self._lock:
            self._shrank.add(path)

    def forget(self, path: str) -> bool:
        """Whether ``path`` ended early since the last call (and clear that)."""
        with self._lock:
            if path in self._shrank:
                self._shrank.discard(path)
                return True
            return False

    def open(self, filename: str, mode: str) -> Any:
        return _TrackedFile(filename, mode, self)

    def open_file_chunk_reader_from_fileobj(self, fileobj: Any, chunk_size: int,
                                            full_file_size: int, callbacks: Any,
                                            close_callbacks: Any = None) -> ReadFileChunk:
        return _PaddedChunk(fileobj, chunk_size, full_file_size, callbacks=callbacks,
                            enable_callbacks=False, close_callbacks=close_callbacks)


class _TrackedFile:
    """A file opened for one part. s3transfer only ever asks it for bytes that existed when the
    upload started, so a short read means the file shrank."""

    def __init__(self, filename: str, mode: str, owner: _ShrinkTolerantOSUtils) -> None:
        self._file = open(filename, mode)  # noqa: SIM115 (closed by close())
        self._filename = filename
        self._owner = owner

    def read(self, amount: int | None = None) -> bytes:
        data: bytes = self._file.read(-1 if amount is None else amount)
        if amount is not None and amount > 0 and len(data) < amount:
            self._owner.mark(self._filename)
        return data

    def seek(self, where: int, whence: int = 0) -> int:
        return self._file.seek(where, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


class _PaddedChunk(ReadFileChunk):
    """A ReadFileChunk that always delivers the length it promised."""

    def read(self, amount: int | None = None) -> bytes:
        left = max(self._size - self._amount_read, 0)
        want = left if amount is None else min(left, amount)
        data: bytes = super().read(amount)
        if len(data) < want:
            pad = want - len(data)
            self._amount_read += pad
            data += b"\0" * pad
        return data
