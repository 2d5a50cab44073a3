"""What jobs/ asks of a container engine: the seam between the job core and Docker.

`runtime.engine.DockerEngine` is the local Docker implementation; a remote Docker host or
Kubernetes would be another. Nothing here imports docker, so jobs/ never does.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from emulator.runtime.instance_types import Machine
from emulator.runtime.translate import ContainerSpec


class Container(Protocol):
    """One training container: created, then started once."""

    @property
    def name(self) -> str: ...

    def start(self) -> None:
        """Start it; raise ContainerStartError when the image's container cannot start (it is
        then removed)."""
        ...

    def log_lines(self) -> Iterator[str]:
        """Its stdout and stderr, line by line, until it exits."""
        ...

    def is_running(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if it still runs after `timeout` seconds (or is gone)."""
        ...

    def send_signal(self, sig: signal.Signals) -> None: ...

    def oom_killed(self) -> bool: ...

    def remove(self) -> None:
        """Gone for good, running or not; removing twice is no error."""
        ...


class Engine(Protocol):
    """Creates and removes the containers and networks of training jobs."""

    def ensure_image(self, image: str) -> None:
        """Raise ImageMissing unless the engine has `image`."""
        ...

    def image_exists(self, image: str) -> bool: ...

    def has_gpus(self) -> bool:
        """Whether containers can get GPUs (the engine has the NVIDIA runtime)."""
        ...

    def machine(self) -> Machine | None:
        """The CPUs and memory containers can use at most (None: the engine does not say)."""
        ...

    def create_network(self, name: str, labels: dict[str, str],
                       pinned: bool = False) -> tuple[str, str | None]:
        """(name, subnet); the subnet only for a pinned network (fixed host addresses)."""
        ...

    def remove_network(self, name: str) -> None: ...

    def network_members(self, network: str) -> dict[str, str]:
        """The containers on `network` (created or running), by name: each one's address there
        with the prefix length, "" while it has none; empty when the network is gone."""
        ...

    def create(self, spec: ContainerSpec) -> Container:
        """The container of `spec`, made and labelled but not started (the job starts it once
        its directories are ready); raise ContainerStartError when it cannot be made."""
        ...

    def attach_gateway(self, name: str, image: str, network: str, socket_path: Path,
                       labels: dict[str, str]) -> str:
        """Put the endpoint's S3 gateway `name` (started on first use) on `network`, where it
        forwards TCP to the endpoint's unix socket; return its address on `network` with the
        network's prefix length, "172.18.0.2/16" (the endpoint tells jobs' requests apart by
        it)."""
        ...

    def detach_gateway(self, name: str, network: str) -> None:
        """Take the gateway off `network` (before the network is removed)."""
        ...

    def remove_tree(self, path: Path, helper_image: str) -> None:
        """Delete a host directory a container may have filled with root-owned files."""
        ...
