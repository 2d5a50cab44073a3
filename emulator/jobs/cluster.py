"""What the hosts of one attempt share: one checkpoint prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.checkpoints import local_manifest, s3_manifest
from emulator.jobs.model import CheckpointFile


def verify_shared_prefix(client: Any, uri: str, local_dirs: dict[str, Path],
                         restored: list[CheckpointFile] | None = None,
                         deleted: set[str] | None = None) -> list[str]:
    """Differences between S3 and the union of the hosts' checkpoint directories.

    All hosts mirror to one prefix, so S3 should hold every file some host has, with the
    content of one of the hosts that have it (which one, when several wrote the same path,
    is an overwrite conflict reported elsewhere). One exception: a file restored onto every
    host and `deleted` by one of them in this attempt is rightly gone from S3 while the other
    hosts keep their untouched restored copies (a host pruning its own old checkpoints).
    """
    remote = s3_manifest(client, uri)
    local = {host: local_manifest(path).files for host, path in local_dirs.items()}
    was_restored = {f.path: (f.size, f.sha256) for f in restored or []}
    paths = set(remote).union(*(set(files) for files in local.values()))
    differences = []
    for path in sorted(paths):
        holders = {host: files[path] for host, files in local.items() if path in files}
        in_s3 = remote.get(path)
        if in_s3 is None:
            if path in (deleted or set()) and path in was_restored and all(
                    (e.size, e.sha256) == was_restored[path] for e in holders.values()):
                continue
            differences.append(f"{path}: on {', '.join(holders)}, not in S3")
        elif not holders:
            differences.append(f"{path}: in S3, on no host")
        elif in_s3 not in holders.values():
            differences.append(f"{path}: S3 holds content that no host has")
    return differences
