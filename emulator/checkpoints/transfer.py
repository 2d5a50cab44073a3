"""Transfer settings, and the reader a streamed upload sends a local file through."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from boto3.s3.transfer import TransferConfig

MiB = 1024 * 1024


def default_transfer_config() -> TransferConfig:
    """Multipart above 8 MiB in 8 MiB parts, 4 concurrent parts (in all: one manager per
    mirror), streamed from disk."""
    return TransferConfig(
        multipart_threshold=8 * MiB,
        multipart_chunksize=8 * MiB,
        max_concurrency=4,
        use_threads=True,
    )


class HashingReader:
    """Reads exactly ``size`` bytes of an open file from offset 0 with ``pread`` (the fd, not
    the path: a swapped path cannot redirect it), hashing what it hands out. A file that ends
    early is padded with zeros to the promised length and ``shrank`` set (the upload must be
    redone); bytes past ``size`` (the file grew) are not read (the caller sees the new size).
    """

    def __init__(self, fd: int, size: int,
                 on_read: Callable[[int], None] | None = None) -> None:
        self._fd = fd
        self._size = size
        self._offset = 0
        self._digest = hashlib.sha256()
        self._on_read = on_read  # gets the bytes handed out so far, after each read
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
        if self._on_read is not None:
            self._on_read(self._offset)
        return data

    def sha256(self) -> str:
        return self._digest.hexdigest()

    @property
    def complete(self) -> bool:
        return self._offset == self._size
