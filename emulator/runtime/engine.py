"""The thin facade over the Docker SDK: the only module that talks to the engine."""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from emulator.errors import (
    AddressPoolsExhausted,
    ContainerStartError,
    DockerUnavailable,
    EmulatorError,
    ImageMissing,
)
from emulator.runtime import labels as L
from emulator.runtime.deaths import DeathWatch
from emulator.runtime.gateway import SharedGateway
from emulator.runtime.gpus import has_nvidia_runtime
from emulator.runtime.instance_types import Machine
from emulator.runtime.translate import (
    ContainerSpec,
    container_kwargs,
    network_kwargs,
)


class ContainerHandle:
    """One training container, created, then started once."""

    def __init__(self, container: Container, deaths: DeathWatch | None = None) -> None:
        self._container = container
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._exit_code: int | None = None
        self._waiter: threading.Thread | None = None
        self._deaths = deaths
        if deaths is not None:
            deaths.watch(str(container.id), self._died)

    @property
    def name(self) -> str:
        return str(self._container.name)

    def start(self) -> None:
        try:
            self._container.start()
        except docker.errors.APIError as err:
            self.remove()
            raise ContainerStartError(str(err.explanation or err)) from err
        except Exception:
            self.remove()
            raise

    def log_lines(self) -> Iterator[str]:
        """Follows stdout and stderr until the container exits."""
        buffer = b""
        for chunk in self._container.logs(stream=True, follow=True, stdout=True, stderr=True):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace").rstrip("\r")
        if buffer:
            yield buffer.decode("utf-8", "replace")

    def is_running(self) -> bool:
        with self._lock:
            try:
                self._container.reload()
            except docker.errors.NotFound:
                return False
            return self._container.status in ("created", "running", "restarting")

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code as soon as Docker tells the container's end (its die event, else its
        wait call); None if it still runs after `timeout` seconds, or is gone without one.
        Only once started: Docker's wait answers at once for a container never started."""
        with self._lock:
            if self._waiter is None:
                self._waiter = threading.Thread(target=self._wait_call, daemon=True,
                                                name=f"wait-{self.name}")
                self._waiter.start()
        self._ended.wait(timeout)
        return self._exit_code

    def _died(self, code: int | None) -> None:
        with self._lock:
            if not self._ended.is_set():
                self._exit_code = code
                self._ended.set()

    def _wait_call(self) -> None:
        """Docker's wait call, asked again while the container runs (a dropped connection)."""
        while not self._ended.is_set():
            try:
                self._died(int(self._container.wait().get("StatusCode", -1)))
            except Exception:  # requests' ConnectionError, NotFound once removed
                if self.is_running():
                    time.sleep(WAIT_RETRY_S)
                    continue
                code: int | None = None
                with contextlib.suppress(Exception):  # exited, or gone without a code
                    code = int(self._container.wait(timeout=5).get("StatusCode", -1))
                self._died(code)

    def send_signal(self, sig: signal.Signals) -> None:
        """Sent; a SIGKILL without waiting for Docker's answer, which comes only after its
        clean-up: wait() tells the end sooner (the die event)."""
        if sig == signal.SIGKILL:
            threading.Thread(target=self._signal, args=(sig,), daemon=True,
                             name=f"kill-{self.name}").start()
        else:
            self._signal(sig)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(docker.errors.APIError):
            self._container.kill(signal=int(sig))

    def oom_killed(self) -> bool:
        with contextlib.suppress(docker.errors.APIError):
            self._container.reload()
            return bool(self._container.attrs.get("State", {}).get("OOMKilled"))
        return False

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self._container.remove(force=True)
        if self._deaths is not None:
            self._deaths.forget(str(self._container.id))


class DockerEngine:
    """Creates and removes the containers and networks of training jobs."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client
        self._gateways: dict[str, SharedGateway] = {}
        self._gateways_lock = threading.Lock()
        self._deaths = DeathWatch(lambda: self.client)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env()
                self._client.ping()
            except docker.errors.DockerException as err:
                self._client = None
                raise DockerUnavailable(
                    f"No Docker engine answers ({err}). Start one (e.g. `dockerd`) and retry."
                ) from err
        return self._client

    def ensure_image(self, image: str) -> None:
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound as err:
            raise ImageMissing(
                f"The training image '{image}' is not in the local Docker engine. Build it "
                f"(docker build -t {image} .) or pull it (docker pull {image}) first."
            ) from err

    def create_network(self, name: str, labels: dict[str, str],
                       pinned: bool = False) -> tuple[str, str | None]:
        """(name, subnet). A pinned network keeps the IPv4 subnet Docker chose for it, so that
        hosts can be given fixed addresses in it (Docker allows those only then)."""
        network = self._create_network(name, labels)
        if not pinned:
            return str(network.name), None
        for _ in range(PIN_ATTEMPTS):
            try:
                network.reload()
                pool = _ipv4_pool(network.attrs)
            finally:
                network.remove()
            try:
                network = self.client.networks.create(**network_kwargs(
                    name, labels, pool["Subnet"], pool.get("Gateway")))
                return str(network.name), str(pool["Subnet"])
            except docker.errors.APIError as err:
                if "overlap" not in str(err).lower():
                    raise
            # Another network (another job's) got the subnet between the removal and the
            # re-creation: take the next pool Docker hands out.
            network = self._create_network(name, labels)
        network.remove()
        raise EmulatorError(f"could not pin network {name} to a subnet: other networks kept "
                            f"taking the one Docker chose ({PIN_ATTEMPTS} tries)")

    def _create_network(self, name: str, labels: dict[str, str]) -> Any:
        try:
            return self.client.networks.create(**network_kwargs(name, labels))
        except docker.errors.APIError as err:
            if "address pool" not in str(err).lower():
                raise
            raise AddressPoolsExhausted(
                f"Docker has no free address pool left for the job network ({err}): remove "
                "unused networks (`smemu cleanup`, `docker network prune`) or give the daemon "
                "more default-address-pools") from err

    def remove_network(self, name: str) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.client.networks.get(name).remove()

    def network_members(self, network: str) -> dict[str, str]:
        """The containers on `network`, created ones too (a network's inspect lists only the
        started ones), by name: each one's IPv4 address there with the prefix length
        ("172.18.0.2/16"), "" while it has none. Empty when the network is gone."""
        try:
            listed = self.client.api.containers(all=True, filters={"network": network})
        except docker.errors.NotFound:
            return {}
        members: dict[str, str] = {}
        for container in listed:
            networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
            if network not in networks:  # the filter also matches ID prefixes
                continue
            name = str((container.get("Names") or [container.get("Id", "?")])[0]).lstrip("/")
            settings = networks[network] or {}
            address = settings.get("IPAddress")
            members[name] = f"{address}/{settings.get('IPPrefixLen') or 32}" if address else ""
        return members

    def create(self, spec: ContainerSpec) -> ContainerHandle:
        try:
            container = self.client.containers.create(**container_kwargs(spec))
        except docker.errors.APIError as err:
            raise ContainerStartError(str(err.explanation or err)) from err
        return ContainerHandle(container, self._deaths)

    def attach_gateway(self, name: str, image: str, network: str, socket_path: Path,
                       labels: dict[str, str]) -> str:
        """Put the endpoint's S3 gateway (one container per name, started on first use) on
        `network`, where it forwards TCP to the endpoint's unix socket; its address there, with
        the network's prefix length ("172.18.0.2/16")."""
        with self._gateways_lock:
            gateway = self._gateways.get(name)
            if gateway is None:
                gateway = self._gateways[name] = SharedGateway(self.client, name, image,
                                                               socket_path, labels)
        return gateway.attach(network)

    def detach_gateway(self, name: str, network: str) -> None:
        with self._gateways_lock:
            gateway = self._gateways.get(name)
        if gateway is not None:
            gateway.detach(network)

    def has_gpus(self) -> bool:
        try:
            return has_nvidia_runtime(self.client.info())
        except Exception:  # no answer: no GPUs
            return False

    def machine(self) -> Machine | None:
        try:
            info = self.client.info()
            return Machine(int(info["NCPU"]), int(info["MemTotal"]))
        except Exception:  # no answer: no cap
            return None

    def image_exists(self, image: str) -> bool:
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
        return True

    def remove_tree(self, path: Path, helper_image: str) -> None:
        """Delete a host directory a container may have filled with root-owned files."""
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        with contextlib.suppress(docker.errors.DockerException):
            self.client.containers.run(
                helper_image, ["rm", "-rf", "/target"],
                volumes={str(path): {"bind": "/target", "mode": "rw"}},
                remove=True, network_mode="none",
                labels={L.MANAGED: "true", **L.owner_labels()},
            )
        shutil.rmtree(path, ignore_errors=True)

    def cleanup(self, selector: dict[str, str]) -> dict[str, list[str]]:
        """Remove every container and network whose labels match `selector`."""
        filters: dict[str, Any] = {"label": [f"{k}={v}" for k, v in selector.items()]}
        removed: dict[str, list[str]] = {"containers": [], "networks": []}
        for container in self.client.containers.list(all=True, filters=filters,
                ignore_removed=True):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                container.remove(force=True)
                removed["containers"].append(str(container.name))
        for network in self.client.networks.list(filters=filters):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()
                removed["networks"].append(str(network.name))
        return removed

    def close(self) -> None:
        """The endpoint's end: stop following Docker's events."""
        self._deaths.close()

    def remove_orphans(self, orphaned: Callable[[dict[str, str]], bool]
                       ) -> dict[str, list[str]]:
        """Remove the containers, then the networks, smemu made whose labels `orphaned`
        judges left behind by a dead endpoint; the rest stays."""
        filters: dict[str, Any] = {"label": [f"{L.MANAGED}=true"]}
        removed: dict[str, list[str]] = {"containers": [], "networks": []}
        for container in self.client.containers.list(all=True, filters=filters,
                ignore_removed=True):
            if orphaned(dict(container.labels or {})):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    container.remove(force=True)
                    removed["containers"].append(str(container.name))
        for network in self.client.networks.list(filters=filters):
            if orphaned(dict(network.attrs.get("Labels") or {})):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    network.remove()
                    removed["networks"].append(str(network.name))
        return removed


PIN_ATTEMPTS = 5
WAIT_RETRY_S = 0.2  # between wait calls that failed while the container still ran


def _ipv4_pool(attrs: dict[str, Any]) -> dict[str, str]:
    """The IPv4 entry of a network's IPAM config (a dual-stack network lists IPv6 too)."""
    for pool in (attrs.get("IPAM") or {}).get("Config") or []:
        subnet = str(pool.get("Subnet") or "")
        if subnet and ":" not in subnet:
            return dict(pool)
    raise EmulatorError(
        "Docker gave the job network no IPv4 subnet; multi-instance jobs give their hosts "
        "fixed IPv4 addresses. Check the daemon's default-address-pools / IPv6-only settings.")
