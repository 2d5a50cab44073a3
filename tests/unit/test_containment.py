"""Every container smemu starts is contained: never privileged, no-new-privileges, no Docker
socket, and a job network that is internal (no route off the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.errors import EmulatorError
from emulator.runtime.staging import HostDirs
from emulator.runtime.translate import (
    ContainerSpec,
    container_kwargs,
    gateway_kwargs,
    network_kwargs,
)


def spec(tmp_path: Path, **fields: object) -> ContainerSpec:
    base: dict[str, object] = {"name": "c", "image": "i", "host": "algo-1",
                               "dirs": HostDirs(tmp_path), "environment": {}, "labels": {},
                               "network": "net"}
    return ContainerSpec(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("network", ["net", None])
def test_training_containers_are_unprivileged_with_no_new_privileges(
        tmp_path: Path, network: str | None) -> None:
    kwargs = container_kwargs(spec(tmp_path, network=network, gpus=0))
    assert kwargs["privileged"] is False
    assert "no-new-privileges:true" in kwargs["security_opt"]
    assert not any("docker.sock" in host for host in kwargs["volumes"])


def test_gateway_is_contained_too() -> None:
    kwargs = gateway_kwargs("g", "img", "net", "/run/x/endpoint.sock", "/opt/f.py", {})
    assert kwargs["privileged"] is False
    assert "no-new-privileges:true" in kwargs["security_opt"]


def test_containment_options_are_not_shared_between_calls(tmp_path: Path) -> None:
    container_kwargs(spec(tmp_path))["security_opt"].append("seccomp=unconfined")
    assert container_kwargs(spec(tmp_path))["security_opt"] == ["no-new-privileges:true"]


@pytest.mark.parametrize("socket", ["/var/run/docker.sock", "/run/docker.sock/"])
def test_the_docker_socket_is_never_mounted(tmp_path: Path, socket: str) -> None:
    with pytest.raises(EmulatorError, match="Docker socket"):
        container_kwargs(spec(tmp_path, extra_mounts={socket: "/var/run/docker.sock"}))
    with pytest.raises(EmulatorError, match="Docker socket"):
        container_kwargs(spec(tmp_path, code_mount=(socket, "/opt/ml/code")))


def test_job_networks_are_internal() -> None:
    assert network_kwargs("n", {})["internal"] is True
    assert network_kwargs("n", {}, subnet="172.30.0.0/24")["internal"] is True
