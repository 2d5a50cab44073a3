"""model.tar.gz / output.tar.gz, and File-mode input channels."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from emulator.errors import EmulatorError
from emulator.storage.s3 import join_key, split_s3_uri


def artifact_uri(output_path: str, job_name: str, file_name: str) -> str:
    """<S3OutputPath>/<job>/output/<file_name>, as SageMaker names it."""
    return f"{output_path.rstrip('/')}/{job_name}/output/{file_name}"


def tar_directory(source: Path, target: Path) -> None:
    """Tar the directory's contents (not the directory itself), gzipped; symlinks kept as links."""
    with tarfile.open(target, "w:gz") as tar:
        for entry in sorted(source.iterdir()) if source.is_dir() else []:
            tar.add(entry, arcname=entry.name)


def upload_directory_tar(client: Any, source: Path, uri: str) -> int:
    """Tar `source` and upload it to `uri`; returns the archive's size."""
    bucket, key = split_s3_uri(uri)
    with tempfile.TemporaryDirectory(prefix="smemu-tar-") as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        tar_directory(source, archive)
        client.upload_file(str(archive), bucket, key)
        return archive.stat().st_size


def download_prefix(client: Any, uri: str, target: Path) -> int:
    """Download every object under an S3 prefix into `target` (File mode); returns the count."""
    bucket, prefix = split_s3_uri(uri)
    count = 0
    paginator = client.get_paginator("list_objects_v2")
    base = target.resolve()
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key: str = obj["Key"]
            relative = key[len(prefix):].lstrip("/") if prefix else key
            if not relative:  # the prefix names a single object
                relative = os.path.basename(key)
            if relative.endswith("/"):
                continue
            destination = (target / relative).resolve()
            if base not in destination.parents:
                raise EmulatorError(f"S3 key {key!r} would escape the channel directory")
            destination.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(destination))
            count += 1
    return count


def download_manifest(client: Any, uri: str, target: Path) -> int:
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
    for relative in relatives:
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
    "join_key",
    "tar_directory",
    "upload_directory_tar",
]
