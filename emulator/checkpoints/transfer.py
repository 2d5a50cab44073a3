"""Transfers: shared settings, and an upload that survives its file changing underneath it.

s3transfer does the work (multipart, concurrent parts, each part read from disk when sent, so
memory does not grow with file size). It fixes an object's length when the upload starts; if the
file then shrinks (a writer truncating it to rewrite it), the request would promise more bytes
than it sends and hang until the read timeout. The chunk readers here pad such a short read to
the promised length and tell the caller, which uploads the file again.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from boto3.s3.transfer import S3Transfer, TransferConfig
from s3transfer.utils import OSUtils, ReadFileChunk

MiB = 1024 * 1024


def default_transfer_config() -> TransferConfig:
    """Multipart above 8 MiB in 8 MiB parts, 4 concurrent parts per file, streamed from disk."""
    return TransferConfig(
        multipart_threshold=8 * MiB,
        multipart_chunksize=8 * MiB,
        max_concurrency=4,
        use_threads=True,
    )


class _PaddedChunk(ReadFileChunk):
    """A ReadFileChunk that always delivers the length it promised."""

    def __init__(self, *args: Any, on_short: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_short = on_short

    def read(self, amount: int | None = None) -> bytes:
        left = max(self._size - self._amount_read, 0)
        want = left if amount is None else min(left, amount)
        data: bytes = super().read(amount)
        if len(data) < want:
            pad = want - len(data)
            self._amount_read += pad
            self._on_short()
            data += b"\0" * pad
        return data


class _ShrinkTolerantOSUtils(OSUtils):
    def __init__(self) -> None:
        super().__init__()
        self.shrank = False

    def _mark_short(self) -> None:
        self.shrank = True

    def open_file_chunk_reader_from_fileobj(
        self,
        fileobj: Any,
        chunk_size: int,
        full_file_size: int,
        callbacks: Any,
        close_callbacks: Any = None,
    ) -> ReadFileChunk:
        return _PaddedChunk(
            fileobj,
            chunk_size,
            full_file_size,
            callbacks=callbacks,
            enable_callbacks=False,
            close_callbacks=close_callbacks,
            on_short=self._mark_short,
        )


def upload_file(client: Any, filename: str, bucket: str, key: str, config: TransferConfig) -> bool:
    """Upload ``filename`` as boto3's ``upload_file`` does; True if the file shrank meanwhile
    (the object then holds zero padding and must be uploaded again)."""
    osutil = _ShrinkTolerantOSUtils()
    with S3Transfer(client=client, config=config, osutil=osutil) as transfer:
        transfer.upload_file(filename, bucket, key)
    return osutil.shrank


class HashingReader:
    """Reads exactly ``size`` bytes of an open file from offset 0 with ``pread`` (the fd, not
    the path: a swapped path cannot redirect it), hashing what it hands out. A file that ends
    early is padded with zeros to the promised length and ``shrank`` set (the upload must be
    redone); bytes past ``size`` (the file grew) are not read (the caller sees the new size).
    """

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        self._offset = 0
        self._digest = hashlib.sha256()
        self.shrank = False

    def read(self, amount: int = -1) -> bytes:
        left = self._size - self._offset
        want = left if amount is None or amount < 0 else min(left, amount)
        if want <= 0:
            return b""
        data = os.pread(self._fd, want, self._offset)
        if len(data) < want:
            more = b""
            if data:  # a short read is not EOF yet: try once more for the rest
                more = os.pread(self._fd, want - len(data), self._offset + len(data))
            data += more
            if len(data) < want:
                self.shrank = True
                data += b"\0" * (want - len(data))
        self._offset += len(data)
        self._digest.update(data)
        return data

    def sha256(self) -> str:
        return self._digest.hexdigest()

    @property
    def complete(self) -> bool:
        return self._offset == self._size
