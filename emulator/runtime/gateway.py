"""The S3 gateway of one endpoint: one container, joined to each job's network while it runs.

It forwards TCP on every network it is on (`smemu-endpoint:4590`) to the endpoint's unix socket.
A container per job cost a `docker create` + `start` and the forwarder's Python start-up in
every job's Starting phase; joining a running one to the job's network is one API call. It
routes nothing between the networks it is on (IPv4 forwarding is off in its network namespace),
so jobs stay as isolated from each other as on networks of their own.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path
from typing import Any

import docker
import docker.errors

from emulator.errors import DockerUnavailable
from emulator.runtime.translate import GATEWAY_HOST, gateway_kwargs

READY_LINE = "smemu gateway:"  # what the forwarder prints once it listens
READY_TIMEOUT_S = 15.0
NO_FORWARDING = {"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.forwarding": "0",
                 "net.ipv4.conf.default.forwarding": "0"}


class SharedGateway:
    """Started on the first job that needs it, removed with the endpoint's containers."""

    def __init__(self, client: docker.DockerClient, name: str, image: str, socket_path: Path,
                 labels: dict[str, str]) -> None:
        self.client = client
        self.name = name
        self.image = image
        self.socket_path = socket_path
        self.labels = labels
        self._container: Any = None
        self._lock = threading.Lock()

    def attach(self, network: str) -> str:
        """On `network` as `smemu-endpoint`, listening (started on it if not running); its
        address there with the network's prefix length ("172.18.0.2/16"), which tells the
        endpoint a request came from this network's job (emulator.server.gateway_origin)."""
        for _ in range(2):
            with self._lock:
                container = self._running()
                if container is None:
                    self._container = container = self._start(network)
                    return _address_on(container, network)
            try:
                self.client.networks.get(network).connect(container, aliases=[GATEWAY_HOST])
                return _address_on(container, network)
            except docker.errors.NotFound:  # removed from outside meanwhile: afresh
                with self._lock:
                    self._container = None
        raise DockerUnavailable(f"the S3 gateway {self.name} vanished twice while joining "
                                f"{network}")

    def detach(self, network: str) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.client.networks.get(network).disconnect(self.name, force=True)

    def _running(self) -> Any:
        """The gateway container if it runs, else None (what is left of it removed)."""
        if self._container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self._container.reload()
                if self._container.status == "running":
                    return self._container
        self._remove()
        return None

    def _start(self, network: str) -> Any:
        script = _forwarder_beside(self.socket_path)
        kwargs = gateway_kwargs(self.name, self.image, network, str(self.socket_path),
                                str(script), self.labels)
        container = self.client.containers.create(sysctls=NO_FORWARDING, **kwargs)
        try:
            container.start()
            _wait_until_listening(container)
        except BaseException:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            raise
        return container

    def _remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.client.containers.get(self.name).remove(force=True)
        self._container = None


def _address_on(container: Any, network: str) -> str:
    """The container's IPv4 address on `network` with the network's prefix length
    ("172.18.0.2/16"); NotFound when it is gone."""
    container.reload()
    settings = container.attrs["NetworkSettings"]["Networks"].get(network, {})
    if not settings.get("IPAddress"):
        raise DockerUnavailable(f"the S3 gateway {container.name} has no address on {network}")
    return f"{settings['IPAddress']}/{settings.get('IPPrefixLen') or 32}"


def _forwarder_beside(socket_path: Path) -> Path:
    """The forwarder script, copied next to the socket: the container mounts it from there,
    not from this package, since when the endpoint itself runs in a container
    (docker-compose.yml, SmemuContainer) only the socket's directory is a path that the Docker
    host sees too."""
    script = socket_path.parent / "gateway_forwarder.py"
    if not script.exists():  # write, then rename: a reader never sees half a file
        partial = script.with_name(f".{script.name}.{threading.get_ident()}")
        shutil.copyfile(Path(__file__).with_name("gateway_forwarder.py"), partial)
        partial.replace(script)
    return script


def _wait_until_listening(container: Any, timeout: float = READY_TIMEOUT_S) -> None:
    """Until the forwarder's first line: read from its log stream as it comes, no polling."""
    seen = threading.Event()
    output: list[str] = []

    def follow() -> None:
        with contextlib.suppress(Exception):
            for chunk in container.logs(stream=True, follow=True):
                output.append(chunk.decode(errors="replace"))
                if READY_LINE in "".join(output):
                    seen.set()
                    return
        seen.set()  # the stream ended: the container did

    threading.Thread(target=follow, name="smemu-gateway-ready", daemon=True).start()
    if not seen.wait(timeout):
        raise DockerUnavailable(f"the S3 gateway container did not start in {timeout:.0f}s")
    text = "".join(output)
    if READY_LINE not in text:
        raise DockerUnavailable(f"the S3 gateway container exited: {text[-500:]}")
