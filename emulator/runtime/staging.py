"""The files SageMaker writes under /opt/ml/input/config, and the host directories behind /opt/ml.

Pure builders (typed config -> the files' dicts) plus one function that lays the directories
out on disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import contract
from emulator.contract import DataDistribution


@dataclass(frozen=True)
class ChannelConfig:
    """A channel as the container sees it: one entry of inputdataconfig.json."""

    name: str
    input_mode: str = "File"
    distribution: DataDistribution = DataDistribution.FULLY_REPLICATED
    content_type: str | None = None
    record_wrapper_type: str = "None"
    # S3DataSource.InstanceGroupNames: only these groups' hosts get the channel (all: empty).
    instance_groups: tuple[str, ...] = ()

    def reaches(self, group: str) -> bool:
        return not self.instance_groups or group in self.instance_groups


@dataclass(frozen=True)
class ContainerConfig:
    """What /opt/ml/input/config holds: the same on every host of a job but current_host."""

    hosts: tuple[str, ...]
    instance_type: str
    hyperparameters: Mapping[str, str] = field(default_factory=dict)  # values are strings
    channels: tuple[ChannelConfig, ...] = ()
    checkpoint_path: str | None = None  # CheckpointConfig.LocalPath; None: no checkpoints
    checkpoint_uri: str | None = None  # CheckpointConfig.S3Uri
    # ResourceConfig.InstanceGroups: (name, instance type, its hosts) each; () homogeneous.
    groups: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def group_of(self, host: str) -> tuple[str, str]:
        """The host's instance group and instance type."""
        for name, instance_type, hosts in self.groups:
            if host in hosts:
                return name, instance_type
        return HOMOGENEOUS, self.instance_type


HOMOGENEOUS = "homogeneousCluster"


def _host_order(host: str) -> int:
    return int(host.rsplit("-", 1)[-1])


def resource_config(current_host: str, hosts: Sequence[str], instance_type: str,
                    groups: Sequence[tuple[str, str, Sequence[str]]] = ()) -> dict[str, Any]:
    """resourceconfig.json; `groups` (name, type, hosts) for a heterogeneous cluster."""
    ordered = sorted(hosts, key=_host_order)
    listed = [(name, kind, sorted(members, key=_host_order)) for name, kind, members in groups] \
        or [(HOMOGENEOUS, instance_type, ordered)]
    current = next((g for g in listed if current_host in g[2]), listed[0])
    return {
        "current_host": current_host,
        "current_instance_type": current[1],
        "current_group_name": current[0],
        "hosts": ordered,
        "instance_groups": [
            {"instance_group_name": name, "instance_type": kind, "hosts": members}
            for name, kind, members in listed
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(channels: Sequence[ChannelConfig]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for channel in channels:
        entry: dict[str, str] = {}
        if channel.content_type:
            entry["ContentType"] = channel.content_type
        entry["TrainingInputMode"] = channel.input_mode
        entry["S3DistributionType"] = channel.distribution.value
        entry["RecordWrapperType"] = channel.record_wrapper_type
        out[channel.name] = entry
    return out


def checkpoint_config(local_path: str | None, s3_uri: str | None = None) -> dict[str, str] | None:
    """Both keys, as the XGBoost container (PR #32) and smdebug's state_store.py read them."""
    if local_path is None:
        return None
    return {"LocalPath": local_path, **({"S3Uri": s3_uri} if s3_uri else {})}


@dataclass(frozen=True)
class HostDirs:
    """Host directories bound into one container (one host of one attempt)."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def config(self) -> Path:
        return self.input / "config"

    @property
    def data(self) -> Path:
        return self.input / "data"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.output / "data"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        """Bound to TensorBoardOutputConfig.LocalPath (a mount of its own, wherever it is)."""
        return self.root / "tensorboard"

    @property
    def failure_file(self) -> Path:
        return self.output / contract.FAILURE_FILE


def _write_json(path: Path, data: Any) -> None:
    # Compact JSON, as SageMaker writes these files.
    path.write_text(json.dumps(data, separators=(",", ":")))


def stage_host(dirs: HostDirs, config: ContainerConfig, current_host: str) -> None:
    """Create the /opt/ml tree for one host and write its config files."""
    for path in (dirs.config, dirs.data, dirs.model, dirs.output_data):
        path.mkdir(parents=True, exist_ok=True)
    if config.checkpoint_path is not None:
        dirs.checkpoints.mkdir(parents=True, exist_ok=True)
    _write_json(dirs.config / contract.HYPERPARAMETERS_FILE, dict(config.hyperparameters))
    _write_json(
        dirs.config / contract.RESOURCECONFIG_FILE,
        resource_config(current_host, config.hosts, config.instance_type, config.groups),
    )
    group = config.group_of(current_host)[0]
    channels = [c for c in config.channels if c.reaches(group)]  # InstanceGroupNames
    _write_json(dirs.config / contract.INPUTDATACONFIG_FILE, input_data_config(channels))
    checkpoint = checkpoint_config(config.checkpoint_path, config.checkpoint_uri)
    if checkpoint is not None:
        _write_json(dirs.config / contract.CHECKPOINTCONFIG_FILE, checkpoint)
    for channel in channels:
        (dirs.data / channel.name).mkdir(parents=True, exist_ok=True)
