"""File-mode input channels: each host's copy of the data, sharded when the channel says so."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emulator.jobs.confined_copy import copy_confined
from emulator.jobs.host_paths import HostPaths, host_path_of, is_host_uri
from emulator.jobs.spec import Channel
from emulator.runtime.staging import HostDirs
from emulator.storage.artifacts import (
    Cancelled,
    Progress,
    Shard,
    download_manifest,
    download_prefix,
)


def channel_shard(channel: Channel, host_index: int, host_count: int) -> Shard | None:
    """ShardedByS3Key splits a channel across hosts; FullyReplicated gives each host all of it."""
    if channel.sharded and host_count > 1:
        return host_index, host_count
    return None


def download_channels(client: Any, channels: Sequence[Channel], every_host: list[HostDirs],
                      cancelled: Cancelled | None = None,
                      progress: Callable[[str], Progress | None] | None = None,
                      groups: Sequence[str] | None = None,
                      host_paths: HostPaths | None = None) -> None:
    """Fill /opt/ml/input/data/<channel> of every host; `cancelled` (a stop) cuts it short
    between objects. A replicated channel comes from S3 once and is copied to the other
    hosts; a sharded one is downloaded per host, each its own shard. `progress(channel name)`
    gives the callback of a channel's download from an S3 prefix. `groups`: each host's
    instance group; a channel with InstanceGroupNames goes to (and is sharded over) the hosts
    of those groups only. `host_paths`: the roots a file:// channel must lie in (none: no
    file:// channel is copied)."""
    policy = host_paths or HostPaths()
    for channel in channels:
        hosts = [dirs for index, dirs in enumerate(every_host)
                 if groups is None or channel.reaches(groups[index])]
        if not hosts:
            continue
        if channel_shard(channel, 0, len(hosts)) is None:
            _fill(client, policy, channel, hosts[0].data / channel.name, None, cancelled,
                  progress(channel.name) if progress else None)
            for dirs in hosts[1:]:
                if cancelled and cancelled():
                    return
                shutil.copytree(hosts[0].data / channel.name, dirs.data / channel.name,
                                dirs_exist_ok=True)
            continue
        for index, dirs in enumerate(hosts):
            _fill(client, policy, channel, dirs.data / channel.name,
                  channel_shard(channel, index, len(hosts)), cancelled)


def _fill(client: Any, policy: HostPaths, channel: Channel, target: Path, shard: Shard | None,
          cancelled: Cancelled | None, progress: Progress | None = None) -> None:
    if cancelled and cancelled():
        return
    uri = channel.s3_uri
    if is_host_uri(uri):  # emulator extension: a host directory inside the allowed roots
        copy_confined(policy, host_path_of(uri), target, shard, f"Channel '{channel.name}'")
    elif uri and channel.s3_data_type == "ManifestFile":
        download_manifest(client, uri, target, shard, cancelled)
    elif uri:
        download_prefix(client, uri, target, shard, cancelled, progress)

