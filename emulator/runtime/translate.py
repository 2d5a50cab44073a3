"""Pure translation of one host of one attempt into Docker SDK keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator import contract
from emulator.runtime import labels as L
from emulator.runtime.staging import HostDirs


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    host: str  # algo-N: hostname and network alias
    dirs: HostDirs
    environment: dict[str, str]
    labels: dict[str, str]
    network: str | None
    checkpoint_path: str | None = None  # container path bound to dirs.checkpoints
    entrypoint: list[str] | None = None
    arguments: list[str] | None = None
    extra_mounts: dict[str, str] = field(default_factory=dict)  # host path -> container path


def container_environment(request: dict[str, Any], job_arn: str, region: str) -> dict[str, str]:
    """What the platform sets, then the request's Environment (which wins on a clash)."""
    env = {
        contract.ENV_JOB_NAME: str(request["TrainingJobName"]),
        contract.ENV_JOB_ARN: job_arn,
        contract.ENV_REGION: region,
        "AWS_DEFAULT_REGION": region,
    }
    env.update({str(k): str(v) for k, v in (request.get("Environment") or {}).items()})
    return env


def command_of(spec: ContainerSpec) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, command): SageMaker runs `IMAGE train` unless ContainerEntrypoint is set."""
    if spec.entrypoint:
        return spec.entrypoint, spec.arguments
    return None, spec.arguments or [contract.TRAIN_COMMAND]


def volumes(spec: ContainerSpec) -> dict[str, dict[str, str]]:
    # Bind the subdirectories only: the image's own files elsewhere under /opt/ml stay visible.
    binds = {
        str(spec.dirs.input): contract.INPUT_DIR,
        str(spec.dirs.model): contract.MODEL_DIR,
        str(spec.dirs.output): contract.OUTPUT_DIR,
    }
    if spec.checkpoint_path is not None:
        binds[str(spec.dirs.checkpoints)] = spec.checkpoint_path.rstrip("/") or "/"
    binds.update(spec.extra_mounts)
    return {host: {"bind": target, "mode": "rw"} for host, target in binds.items()}


def container_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    entrypoint, command = command_of(spec)
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": spec.name,
        "hostname": spec.host,
        "command": command,
        "environment": dict(spec.environment),
        "labels": {**spec.labels, L.HOST: spec.host},
        "volumes": volumes(spec),
        "detach": True,
    }
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    if spec.network is None:
        kwargs["network_mode"] = "none"
    else:
        kwargs["network"] = spec.network
        kwargs["networking_config"] = {spec.network: {"Aliases": [spec.host]}}
    return kwargs


def network_kwargs(name: str, labels: dict[str, str]) -> dict[str, Any]:
    # internal: containers reach each other and nothing off the machine.
    return {"name": name, "driver": "bridge", "internal": True, "labels": dict(labels)}
