"""File-mode input channels: each host's copy of the data, sharded when the channel says so."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from emulator.runtime.staging import HostDirs
from emulator.storage.artifacts import (
    Cancelled,
    Shard,
    download_manifest,
    download_prefix,
    take_shard,
)

SHARDED = "ShardedByS3Key"


def channel_shard(source: dict[str, Any], host_index: int, host_count: int) -> Shard | None:
    """ShardedByS3Key splits a channel across hosts; FullyReplicated gives each host all of it."""
    if source.get("S3DataDistributionType") == SHARDED and host_count > 1:
        return host_index, host_count
    return None


def download_channels(client: Any, request: dict[str, Any], dirs: HostDirs,
                      host_index: int = 0, host_count: int = 1,
                      cancelled: Cancelled | None = None) -> None:
    """Fill /opt/ml/input/data/<channel> of host `host_index` (from 0) of `host_count`;
    `cancelled` (a stop) cuts it short between objects."""
    for channel in request.get("InputDataConfig") or []:
        if cancelled and cancelled():
            return
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        uri = str(source.get("S3Uri", ""))
        target = dirs.data / channel["ChannelName"]
        shard = channel_shard(source, host_index, host_count)
        if uri.startswith("file://"):  # emulator extension: a local directory
            copy_local(Path(uri[len("file://"):]), target, shard)
        elif uri and source.get("S3DataType") == "ManifestFile":
            download_manifest(client, uri, target, shard, cancelled)
        elif uri:
            download_prefix(client, uri, target, shard, cancelled)


def copy_local(source: Path, target: Path, shard: Shard | None) -> None:
    if shard is None:
        shutil.copytree(source, target, dirs_exist_ok=True)
        return
    # What copytree copies for a replicated channel: links followed (datasets often link into
    # a cache), so that the shards together hold the same files.
    files = [(Path(top) / name).relative_to(source).as_posix()
             for top, _, names in os.walk(source, followlinks=True) for name in names
             if (Path(top) / name).is_file()]
    for relative in take_shard(files, shard):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, destination)
