"""model.tar.gz / output.tar.gz, and File-mode input channels."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.errors import EmulatorError, JobClientError
from emulator.s3uri import join_key
from emulator.storage.s3 import split_s3_uri


def artifact_uri(output_path: str, job_name: str, file_name: str) -> str:
    """<S3OutputPath>/<job>/output/<file_name>, as SageMaker names it."""
    return f"{output_path.rstrip('/')}/{job_name}/output/{file_name}"


def tar_directory(source: Path | list[Path], target: Path) -> None:
    """Tar the directory's contents (not the directory itself), gzipped; symlinks kept as links.

    Several directories (the hosts of a multi-instance job) are merged into one archive; where
    two hold the same path, the first one's entry is kept.
    """
    sources = source if isinstance(source, list) else [source]
    added: dict[str, bool] = {}  # archive name -> is a real directory
    with tarfile.open(target, "w:gz") as tar:
        for root in sources:
            for path in _tree(root):
                name = path.relative_to(root).as_posix()
                if name in added or _below_a_non_directory(name, added):
                    continue  # an earlier host's entry wins; nothing goes below its file/link
                added[name] = path.is_dir() and not path.is_symlink()
                tar.add(path, arcname=name, recursive=False)


def _below_a_non_directory(name: str, added: dict[str, bool]) -> bool:
    parts = name.split("/")
    return any(added.get("/".join(parts[:i])) is False for i in range(1, len(parts)))


def _tree(root: Path) -> list[Path]:
    """Every entry under `root` in sorted order, parents first; symlinks not followed."""
    if not root.is_dir():
        return []
    entries: list[Path] = []
    for entry in sorted(root.iterdir()):
        entries.append(entry)
        if entry.is_dir() and not entry.is_symlink():
            entries.extend(_tree(entry))
    return entries


def upload_directory_tar(client: Any, source: Path | list[Path], uri: str) -> int:
    """Tar `source` (one directory, or several merged) and upload it to `uri`; returns the
    archive's size."""
    bucket, key = split_s3_uri(uri)
    with tempfile.TemporaryDirectory(prefix="smemu-tar-") as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        tar_directory(source, archive)
        client.upload_file(str(archive), bucket, key)
        return archive.stat().st_size


Shard = tuple[int, int]  # (this host's index from 0, number of hosts)


def take_shard(names: list[str], shard: Shard | None) -> list[str]:
    """ShardedByS3Key: host i of N gets every N-th name, in key order (None: all of them)."""
    if shard is None:
        return names
    index, count = shard
    return sorted(names)[index::count]


Cancelled = Callable[[], bool]  # polled between objects: True stops the download early
# Called as bytes arrive: (bytes done, bytes in all, the file being downloaded).
Progress = Callable[[int, int, str], None]


def download_prefix(client: Any, uri: str, target: Path, shard: Shard | None = None,
                    cancelled: Cancelled | None = None, progress: Progress | None = None) -> int:
    """Download every object under an S3 prefix into `target` (File mode); returns the count."""
    bucket, prefix = split_s3_uri(uri)
    count = 0
    paginator = client.get_paginator("list_objects_v2")
    base = target.resolve()
    sizes = {str(obj["Key"]): int(obj.get("Size") or 0)
             for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
             for obj in page.get("Contents", []) if not str(obj["Key"]).endswith("/")}
    keys = list(sizes)
    if not keys:
        region = getattr(getattr(client, "meta", None), "region_name", None) or "us-east-1"
        raise JobClientError(
            f'No S3 objects found under S3 URL "{uri}" given in input data source. Please '
            f"ensure that the bucket exists in the selected region ({region}) and that "
            "objects exist under that S3 prefix."
        )
    chosen = take_shard(keys, shard)
    total, done = sum(sizes[k] for k in chosen), [0]
    for key in chosen:
        if cancelled and cancelled():
            break
        relative = key[len(prefix):].lstrip("/") if prefix else key
        if not relative:  # the prefix names a single object
            relative = os.path.basename(key)
        destination = (target / relative).resolve()
        if base not in destination.parents:
            raise EmulatorError(f"S3 key {key!r} would escape the channel directory")
        destination.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(destination),
                             Callback=_counting(done, total, relative, progress))
        count += 1
    return count


def _counting(done: list[int], total: int, relative: str,
              progress: Progress | None) -> Callable[[int], None] | None:
    """s3transfer's per-chunk callback (bytes since the last call) as running totals."""
    if progress is None:
        return None

    def count(chunk: int) -> None:
        done[0] += chunk
        try:
            progress(done[0], total, relative)
        except Exception:  # progress must never break the download
            return

    return count


def download_manifest(client: Any, uri: str, target: Path, shard: Shard | None = None,
                      cancelled: Cancelled | None = None) -> int:
    """A ManifestFile channel: [{"prefix": "s3://b/p/"}, "key1", "dir/key2", ...]."""
    bucket, key = split_s3_uri(uri)
    try:
        entries = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        prefix = str(entries[0]["prefix"])
        relatives = [str(e) for e in entries[1:]]
    except (ValueError, LookupError, TypeError) as err:
        raise EmulatorError(f"{uri} is not a SageMaker manifest file: {err}") from err
    prefix_bucket, prefix_key = split_s3_uri(prefix)
    base = target.resolve()
    relatives = take_shard(relatives, shard)
    for relative in relatives:
        if cancelled and cancelled():
            break
        destination = (target / relative).resolve()
        if base not in destination.parents:
            raise EmulatorError(f"manifest entry {relative!r} would escape the channel directory")
        destination.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(prefix_bucket, join_key(prefix_key, relative), str(destination))
    return len(relatives)


__all__ = [
    "artifact_uri",
    "download_manifest",
    "download_prefix",
    "take_shard",
    "tar_directory",
    "upload_directory_tar",
]
