"""model.tar.gz / output.tar.gz, and File-mode input channels."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from emulator.errors import EmulatorError, JobClientError
from emulator.s3uri import join_key
from emulator.storage.s3 import split_s3_uri

GZIP_LEVEL = 6  # gzip's and `tar czf`'s default (tarfile's own is 9: slower, barely smaller)


def artifact_uri(output_path: str, job_name: str, file_name: str) -> str:
    """<S3OutputPath>/<job>/output/<file_name>, as SageMaker names it."""
    return f"{output_path.rstrip('/')}/{job_name}/output/{file_name}"


def tar_directory(source: Path | list[Path], target: Path | Any) -> None:
    """Tar the directory's contents (not the directory itself), gzipped; symlinks kept as links.
    `target` is a file name, or a stream written front to back (it need not seek).

    Several directories (the hosts of a multi-instance job) are merged into one archive; where
    two hold the same path, the first one's entry is kept.
    """
    sources = source if isinstance(source, list) else [source]
    added: dict[str, bool] = {}  # archive name -> is a real directory
    where: dict[str, Any] = {"name": target} if isinstance(target, Path) else {"fileobj": target}
    with tarfile.open(**where, mode="w:gz", compresslevel=GZIP_LEVEL) as tar:
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
    """Tar `source` (one directory, or several merged) and upload it to `uri` as it is made,
    through a pipe (no temporary archive on disk); returns the archive's size."""
    bucket, key = split_s3_uri(uri)
    read_end, write_end = os.pipe()
    archive = _ArchiveReader(os.fdopen(read_end, "rb"))
    writer = _CountingPipe(os.fdopen(write_end, "wb"))

    def make() -> None:
        try:
            tar_directory(source, writer)
        except BaseException as err:
            archive.failure = err
        finally:
            writer.close()

    maker = threading.Thread(target=make, name="smemu-model-tar", daemon=True)
    maker.start()
    try:
        client.upload_fileobj(archive, bucket, key)
    finally:
        archive.close()  # a failed upload: the tar thread's next write fails, and it ends
        maker.join()
    if archive.failure is not None:
        raise archive.failure
    return writer.count


class _CountingPipe:
    """The pipe's write end, counting the archive's bytes."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def write(self, data: bytes) -> int:
        self._stream.write(data)
        self.count += len(data)
        return len(data)

    def tell(self) -> int:
        return self.count

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.close()


class _ArchiveReader(io.RawIOBase):
    """The pipe's read end. The end of a tar that failed half-way is an error, never the end
    of a shorter archive: the upload fails instead of storing a truncated model."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.failure: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._stream.read(-1 if size is None else size)
        if not data and self.failure is not None:
            raise EmulatorError(f"making the archive failed: {self.failure}")
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.close()
        super().close()


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
