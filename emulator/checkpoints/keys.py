"""Turning object keys into local paths without letting any of them escape the target."""

from __future__ import annotations

from emulator.errors import CheckpointError


def safe_parts(key: str, relative: str) -> list[str]:
    """Split ``relative`` (the part of ``key`` under the prefix) into path components.

    Refuses, naming ``key``, anything that could land outside the target directory or is
    ambiguous: absolute-looking paths, ``..`` or ``.`` segments, empty segments (``a//b``), NUL.
    """
    if relative.startswith("/"):
        raise CheckpointError(f"refusing S3 key {key!r}: absolute path {relative!r}")
    if "\x00" in relative:
        raise CheckpointError(f"refusing S3 key {key!r}: NUL in path")
    parts = relative.split("/")
    for part in parts:
        if part == "..":
            raise CheckpointError(f"refusing S3 key {key!r}: '..' would escape the checkpoint dir")
        if part in ("", "."):
            raise CheckpointError(f"refusing S3 key {key!r}: empty or '.' path segment")
    return parts
