"""A scripted container engine for unit tests of the job core (no Docker daemon).

It implements `emulator.runtime.protocol.Engine`: each host's container does what its Script
says, on the job's clock (a ManualClock runs the scripted exits in virtual time).
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from emulator.errors import ContainerStartError, ImageMissing
from emulator.jobs.clock import Clock, ManualClock
from emulator.runtime.instance_types import Machine
from emulator.runtime.translate import ContainerSpec


@dataclass(frozen=True)
class Script:
    """What one host's fake container does."""

    exit_after: float | None = None  # seconds until it exits by itself (None: never)
    code: int | None = 0  # its exit code then (None: it vanished, e.g. `docker rm -f`)
    on_term: int | None = None  # exit code on SIGTERM (None: ignores it)
    before_exit: Callable[[Any], None] | None = None  # called with its HostDirs as it exits
    start_error: bool = False  # the engine cannot start it
    create_error: bool = False  # the engine cannot even make it (no such image)
    exits_as_killed: int = 137  # its exit code when a SIGKILL arrives (0: it won the race)
    hiccup: bool = False  # its log stream and first wait fail while it still runs
    oom: bool = False  # what docker inspect's State.OOMKilled says of it
    stays_on_network: bool = False  # its removal fails: it is left on the job's network


class FakeContainer:
    def __init__(self, spec: ContainerSpec, script: Script, engine: FakeEngine) -> None:
        self.spec = spec
        self.script = script
        self.engine = engine
        self._name = spec.name
        self.code: int | None = None
        self.done = threading.Event()
        self.signals: list[int] = []
        self.removed = False
        self.started = False

    def start(self) -> None:
        with self.engine.lock:
            self.engine.events.append(("start", self.spec.host))
        if self.script.start_error:
            self.remove()
            raise ContainerStartError(f"{self.spec.host}: address already in use")
        self.started = True
        if self.script.exit_after is not None:
            code = self.script.code
            self.engine.schedule(self.script.exit_after, lambda: self._exit(code))

    @property
    def name(self) -> str:
        return self._name

    def _exit(self, code: int | None) -> None:
        with self.engine.lock:
            if self.done.is_set():
                return
            if self.script.before_exit and code == self.script.code:
                self.script.before_exit(self.spec.dirs)
            self.code = code
            self.done.set()

    def log_lines(self) -> Iterator[str]:
        yield f"{self.spec.host}: hello"
        if self.script.hiccup:
            raise ConnectionError("the engine dropped the log stream")
        self.done.wait()

    def wait(self, timeout: float | None = None) -> int | None:
        if self.script.hiccup and not self.done.is_set():
            self.script = replace(self.script, hiccup=False)
            return None  # what ContainerHandle.wait answers when the call fails mid-run
        self.done.wait(timeout)
        return self.code

    def send_signal(self, sig: signal.Signals) -> None:
        self.signals.append(int(sig))
        if sig == signal.SIGKILL:
            self._exit(self.script.exits_as_killed)
        elif sig == signal.SIGTERM and self.script.on_term is not None:
            self._exit(self.script.on_term)

    def is_running(self) -> bool:
        return not self.done.is_set()

    def oom_killed(self) -> bool:
        return self.script.oom

    def remove(self) -> None:
        with self.engine.lock:
            self.engine.events.append(("remove", self.spec.host))
        self.removed = True
        self._exit(137)
        if not self.script.stays_on_network:
            self.engine.leave(self.spec.network, self.name)


@dataclass
class FakeEngine:
    scripts: dict[str, Script] = field(default_factory=dict)
    clock: Clock | None = None  # a ManualClock runs the scripted exits in its virtual time
    images: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)
    handles: list[FakeContainer] = field(default_factory=list)  # every container made
    events: list[tuple[str, str]] = field(default_factory=list)  # ("create", "algo-1"), ...
    networks: set[str] = field(default_factory=set)
    network_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    gpus: bool = False  # whether it has the NVIDIA runtime
    machine_size: Machine | None = None  # what machine() answers (None: it does not say)
    gateway: bool = False  # whether it runs the endpoint's S3 gateway (else attaching fails)
    # Each network's containers (the gateway's too), with their addresses, as Docker lists them.
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (network call, network)

    def schedule(self, seconds: float, call: Callable[[], None]) -> None:
        if isinstance(self.clock, ManualClock):
            self.clock.call_at(self.clock.now() + seconds, call)
            return
        timer = threading.Timer(seconds, call)
        timer.daemon = True
        timer.start()

    def ensure_image(self, image: str) -> None:
        if image not in self.images:
            raise ImageMissing(f"The training image '{image}' is not in the local Docker "
                               f"engine. Build it (docker build -t {image} .) or pull it "
                               f"(docker pull {image}) first.")

    def image_exists(self, image: str) -> bool:
        return image in self.images

    def has_gpus(self) -> bool:
        return self.gpus

    def machine(self) -> Machine | None:
        return self.machine_size

    def create_network(self, name: str, labels: dict[str, str],
                       pinned: bool = False) -> tuple[str, str | None]:
        with self.lock:
            self.calls.append(("create_network", name))
            self.networks.add(name)
            self.network_labels[name] = dict(labels)
            self.members[name] = {}
        return name, "172.30.0.0/16" if pinned else None

    def remove_network(self, name: str) -> None:
        with self.lock:
            self.calls.append(("remove_network", name))
            if self.members.get(name):  # Docker refuses while a container is on it
                return
            self.networks.discard(name)
            self.members.pop(name, None)

    def network_members(self, network: str) -> dict[str, str]:
        with self.lock:
            return dict(self.members.get(network, {}))

    def leave(self, network: str | None, container: str) -> None:
        with self.lock:
            self.members.get(network or "", {}).pop(container, None)

    def create(self, spec: ContainerSpec) -> FakeContainer:
        script = self.scripts[spec.host]
        with self.lock:
            self.events.append(("create", spec.host))
            if script.create_error:
                raise ContainerStartError(f"No such image: {spec.image}")
            handle = FakeContainer(spec, script, self)
            self.handles.append(handle)
            if spec.network is not None:
                on = self.members.setdefault(spec.network, {})
                on[spec.name] = f"10.9.0.{len(on) + 2}/24"
        return handle

    def attach_gateway(self, name: str, image: str, network: str, socket_path: Path,
                       labels: dict[str, str]) -> str:
        if not self.gateway:
            raise ContainerStartError("the fake engine runs no gateway")
        with self.lock:
            self.calls.append(("attach_gateway", network))
            address = f"10.8.{len(self.calls) % 250}.1/24"
            self.members.setdefault(network, {})[name] = address
        return address

    def detach_gateway(self, name: str, network: str) -> None:
        with self.lock:
            self.calls.append(("detach_gateway", network))
        self.leave(network, name)

    def made(self, call: str) -> list[str]:
        """The networks of each `call` (create_network, attach_gateway, ...) so far."""
        with self.lock:
            return [network for each, network in self.calls if each == call]

    def remove_tree(self, path: Path, helper_image: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
