"""HashingReader: an upload's body hands out exactly the size it promised, hashed as it goes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from emulator.checkpoints.transfer import HashingReader

MiB = 1024 * 1024


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
