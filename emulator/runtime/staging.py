"""The files SageMaker writes under /opt/ml/input/config, and the host directories behind /opt/ml.

Pure builders (request -> dict) plus one function that lays the directories out on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator import contract


def hyperparameters(request: dict[str, Any]) -> dict[str, str]:
    # SageMaker passes every value as a string.
    return {str(k): str(v) for k, v in (request.get("HyperParameters") or {}).items()}


def resource_config(current_host: str, hosts: list[str], instance_type: str) -> dict[str, Any]:
    ordered = sorted(hosts, key=lambda h: int(h.rsplit("-", 1)[-1]))
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": ordered,
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": instance_type,
                "hosts": ordered,
            }
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(request: dict[str, Any]) -> dict[str, dict[str, str]]:
    default_mode = (request.get("AlgorithmSpecification") or {}).get("TrainingInputMode", "File")
    out: dict[str, dict[str, str]] = {}
    for channel in request.get("InputDataConfig") or []:
        entry: dict[str, str] = {}
        if channel.get("ContentType"):
            entry["ContentType"] = channel["ContentType"]
        entry["TrainingInputMode"] = channel.get("InputMode") or default_mode
        s3 = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        entry["S3DistributionType"] = s3.get("S3DataDistributionType", "FullyReplicated")
        entry["RecordWrapperType"] = channel.get("RecordWrapperType", "None")
        out[channel["ChannelName"]] = entry
    return out


def checkpoint_local_path(request: dict[str, Any]) -> str | None:
    config = request.get("CheckpointConfig")
    if not config:
        return None
    return str(config.get("LocalPath") or contract.DEFAULT_CHECKPOINT_LOCAL_PATH)


def checkpoint_config(request: dict[str, Any]) -> dict[str, str] | None:
    # Whether AWS also writes S3Uri here is UNCONFIRMED; LocalPath is what scripts read.
    local = checkpoint_local_path(request)
    return None if local is None else {"LocalPath": local}


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
    def failure_file(self) -> Path:
        return self.output / contract.FAILURE_FILE


def _write_json(path: Path, data: Any) -> None:
    # Compact JSON, as SageMaker writes these files.
    path.write_text(json.dumps(data, separators=(",", ":")))


def stage_host(
    dirs: HostDirs, request: dict[str, Any], current_host: str, hosts: list[str]
) -> None:
    """Create the /opt/ml tree for one host and write its config files."""
    for path in (dirs.config, dirs.data, dirs.model, dirs.output_data):
        path.mkdir(parents=True, exist_ok=True)
    if checkpoint_local_path(request) is not None:
        dirs.checkpoints.mkdir(parents=True, exist_ok=True)
    instance_type = str((request.get("ResourceConfig") or {}).get("InstanceType", "ml.m5.large"))
    _write_json(dirs.config / contract.HYPERPARAMETERS_FILE, hyperparameters(request))
    _write_json(
        dirs.config / contract.RESOURCECONFIG_FILE,
        resource_config(current_host, hosts, instance_type),
    )
    _write_json(dirs.config / contract.INPUTDATACONFIG_FILE, input_data_config(request))
    checkpoint = checkpoint_config(request)
    if checkpoint is not None:
        _write_json(dirs.config / contract.CHECKPOINTCONFIG_FILE, checkpoint)
    for channel in input_data_config(request):
        (dirs.data / channel).mkdir(parents=True, exist_ok=True)
