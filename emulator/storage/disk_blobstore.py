"""A blob store that reads the endpoint's embedded disk S3 in this process, without HTTP.

A job's restore runs in the endpoint's process. Over HTTP to itself, its client threads
(botocore's parsing, the hashing loop) and the S3 server's threads (werkzeug) take turns on one
GIL: a 256 MiB restore took 1.4 s there against 0.4 s from a process of its own. Read here,
the bytes go from the object's files to the caller in 1 MiB blocks, and reading, hashing and
writing them release the GIL.

Reads answer as the HTTP path does (same keys, sizes and ETags, in the same order; S3's error
codes in botocore ``ClientError``s, which ``emulator.checkpoints.retry`` classifies). Writes go
to ``writes``, the HTTP store of the same S3, so ETags and multipart semantics stay exactly
the S3 application's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from io import BufferedReader

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from emulator.storage.blobstore import BlobStore, Readable, Sink, StoredObject, Transfers
from emulator.storage.boto_store import check_range
from emulator.storage.disk_s3.errors import S3Error
from emulator.storage.disk_s3.store import DiskObjectStore, Version

READ_BLOCK = 1024 * 1024
# A body replaced (or deleted) between the index lookup and the opening of its files: look the
# key up again, as the next GET over HTTP would.
_OPEN_ATTEMPTS = 5
_Open = tuple[BufferedReader, int]  # one of a body's files, open, and its size


def client_error(err: S3Error, operation: str) -> ClientError:
    """``err`` as botocore raises S3's answer to it over HTTP."""
    return ClientError({"Error": {"Code": err.code, "Message": err.message, **err.fields},
                        "ResponseMetadata": {"HTTPStatusCode": err.status}}, operation)


class DiskBlobStore:
    """A ``BlobStore`` over ``store`` (reads) and ``writes`` (everything else): see above."""

    def __init__(self, store: DiskObjectStore, writes: BlobStore) -> None:
        self._store = store
        self._writes = writes

    @property
    def whole_object(self) -> bool:
        return self._writes.whole_object

    def list_objects(self, bucket: str, prefix: str) -> list[StoredObject]:
        objects: list[StoredObject] = []
        with _answered_as("ListObjectsV2"):
            for version in self._store.iter_latest(bucket, prefix):
                if not version.key.startswith(prefix):
                    break  # key order: nothing further starts with it
                objects.append(StoredObject(version.key, version.size, version.etag))
        return objects

    def get_stream(self, bucket: str, key: str, sink: Sink) -> None:
        with self._opened(bucket, key) as (version, files):
            for handle, size in files:
                left = size
                while left > 0:
                    with _answered_as("GetObject"):  # (not the sink: its errors are the caller's)
                        chunk = handle.read(min(READ_BLOCK, left))
                    if not chunk:
                        raise _shorter(version)
                    left -= len(chunk)
                    sink(chunk)

    def get_range(self, bucket: str, key: str, start: int,
                  length: int) -> tuple[bytes | bytearray, str]:
        with self._opened(bucket, key) as (version, files):
            if length <= 0 or start >= version.size:
                raise client_error(S3Error("InvalidRange", "The requested range is not "
                                           "satisfiable", 416,
                                           ActualObjectSize=str(version.size)), "GetObject")
            data = bytearray(min(length, version.size - start))
            view, offset = memoryview(data), 0  # offset: where this file begins in the body
            for handle, size in files:
                if view and offset + size > start:
                    take = min(len(view), offset + size - max(start, offset))
                    with _answered_as("GetObject"):
                        handle.seek(max(0, start - offset))
                        _read_exactly(handle, view[:take], version)
                    view = view[take:]
                offset += size
        # As the HTTP path checks what the server sent: a range past the end comes short.
        check_range(data, start, length, 206,
                    f"bytes {start}-{start + len(data) - 1}/{version.size}")
        return data, version.etag

    @contextlib.contextmanager
    def _opened(self, bucket: str, key: str) -> Iterator[tuple[Version, list[_Open]]]:
        """The latest version of ``key`` with its files open (an open file is still read
        whole if the body is replaced meanwhile)."""
        for _ in range(_OPEN_ATTEMPTS):
            version = self._latest(bucket, key)
            files: list[_Open] = []
            try:
                with _answered_as("GetObject", but=FileNotFoundError):
                    for path, size in self._store.segments(version):
                        files.append((path.open("rb"), size))
            except BaseException as err:
                for handle, _ in files:
                    handle.close()
                if isinstance(err, FileNotFoundError):  # replaced or deleted since the lookup
                    continue
                raise
            try:
                yield version, files
            finally:
                for handle, _ in files:
                    handle.close()
            return
        raise client_error(S3Error("InternalError", f"{key} kept changing while it was opened",
                                   500), "GetObject")

    def _latest(self, bucket: str, key: str) -> Version:
        with _answered_as("GetObject"):
            version = self._store.get(bucket, key)
        if version.delete_marker:
            raise client_error(S3Error("NoSuchKey", "The specified key does not exist.", 404,
                                       Key=key), "GetObject")
        return version

    # -- writes: the S3 application's own, over HTTP --------------------------------------
    def put_bytes(self, bucket: str, key: str, data: bytes, sha256_hex: str) -> str:
        return self._writes.put_bytes(bucket, key, data, sha256_hex)

    def put_stream(self, bucket: str, key: str, body: Readable, length: int) -> str:
        return self._writes.put_stream(bucket, key, body, length)

    def delete(self, bucket: str, key: str) -> None:
        self._writes.delete(bucket, key)

    def transfers(self, config: TransferConfig) -> Transfers:
        return self._writes.transfers(config)


@contextlib.contextmanager
def _answered_as(operation: str, but: type[BaseException] | None = None) -> Iterator[None]:
    """The disk S3's errors as the HTTP path gets them: its S3Errors with their codes, and a
    failure of its files or its index (which the S3 application answers 500) an InternalError,
    which the retry layer retries; ``but`` passes through."""
    try:
        yield
    except S3Error as err:
        raise client_error(err, operation) from None
    except (OSError, sqlite3.Error) as err:
        if but is not None and isinstance(err, but):
            raise
        raise client_error(S3Error("InternalError", "We encountered an internal error: "
                                   f"{type(err).__name__}: {err}", 500), operation) from err


def _read_exactly(handle: BufferedReader, into: memoryview, version: Version) -> None:
    while into:
        got = handle.readinto(into)
        if not got:
            raise _shorter(version)
        into = into[got:]


def _shorter(version: Version) -> ClientError:
    """A body file shorter than the index says: over HTTP, a body that ends early (retried)."""
    return client_error(S3Error("InternalError", f"the body of {version.key} is shorter than "
                                "recorded", 500), "GetObject")
