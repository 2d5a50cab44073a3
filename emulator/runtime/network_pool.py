"""The endpoint's pool of bare job networks with its S3 gateway already on them.

A job network's create and the gateway's connect when a job starts, and the disconnect and the
removal when it ends, were four Docker calls (0.1-0.3 s each under load) on every job's
critical path. A single-host job takes a network from here instead (made on demand when none is
idle) and gives it back at its end, once its containers are gone and its S3 fault route removed.
A network goes back only if Docker shows nothing but the gateway on it, so no container of one
job is ever on a network while another job's are: a job meets nothing of the one before.

The networks are the endpoint's, never a job's (`labels.pool_labels`): its shutdown, crash
recovery at the next start and `smemu cleanup` remove them by the server's labels. The pool
stays small: jobs one after another share one network; up to `spares` idle ones are made ahead
in the background only while jobs overlap (a job took one while another holds one), at most
`keep` are kept idle, none is made ahead for a while after Docker ran out of address
pools, and the idle ones are removed after `idle_seconds` (other endpoints on the machine need
address pools too).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.errors import AddressPoolsExhausted
from emulator.runtime import labels as L
from emulator.runtime.protocol import Engine

log = logging.getLogger(__name__)
SPARES = 1  # made ahead, in the background, when a job took the last one beside another
KEEP = 2  # idle ones kept at most: a network given back beyond them is removed
IDLE_S = 60.0  # an idle network unused this long is removed
STARVED_S = 30.0  # no network made ahead this long after Docker ran out of address pools
CLOSE_WAIT_S = 30.0  # how long close() waits for a network being made ahead


def gateway_name(server_id: str) -> str:
    """The endpoint's one S3 gateway container."""
    return f"smemu-{server_id}-gateway"


def pool_network_name(server_id: str, number: int) -> str:
    """`smemu-<server id>.pool-N`: the dot keeps it apart from every job network's name,
    `smemu-<server id>-<job name>` (a job name has letters, digits and hyphens only)."""
    return f"smemu-{server_id}.pool-{number}"


@dataclass(frozen=True)
class Gateway:
    """The endpoint's S3 gateway: what Engine.attach_gateway needs to put it on a network."""

    name: str
    image: str
    socket: Path
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PooledNetwork:
    name: str
    gateway_address: str  # the gateway's address on it with the prefix, "172.18.0.2/16"


class NetworkPool:
    """Networks lent to one job at a time. Thread-safe; close() removes the idle ones."""

    def __init__(self, engine: Engine, server_id: str, gateway: Gateway, *,
                 spares: int = SPARES, keep: int = KEEP, idle_seconds: float = IDLE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.server_id = server_id
        self.gateway = gateway
        self.spares = min(spares, keep)
        self.keep = keep
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: list[tuple[PooledNetwork, float]] = []  # (network, idle since)
        self._making: list[threading.Thread] = []
        self._lent = 0  # networks taken and not given back yet
        self._numbers = itertools.count(1)
        self._starved_until = float("-inf")
        self._expiry: threading.Timer | None = None
        self._closed = False

    @property
    def idle(self) -> list[str]:
        with self._lock:
            return [network.name for network, _ in self._idle]

    def take(self) -> PooledNetwork | None:
        """A network with the gateway on it and nothing else, the caller's alone until it
        gives it back; None when the gateway cannot run (its image is missing)."""
        with self._lock:
            beside = self._lent > 0  # jobs overlap: the next may come before one is back
            self._lent += 1
        network: PooledNetwork | None = None
        try:
            network = self._lend()
        finally:
            if network is None:
                with self._lock:
                    self._lent -= 1
        if beside:
            self._make_ahead()
        return network

    def _lend(self) -> PooledNetwork | None:
        while True:
            with self._lock:
                candidate = self._idle.pop()[0] if self._idle else None  # the freshest
            if candidate is None:
                break
            address = self._bare(candidate.name)  # the gateway may have died since
            if address is not None:
                return PooledNetwork(candidate.name, address)
            self._remove(candidate.name)
        if not self.engine.image_exists(self.gateway.image):
            return None
        return self._make()

    def give_back(self, network: PooledNetwork) -> None:
        """Kept for the next job if nothing but the gateway is on it (and the pool has room),
        else removed. The caller's containers must be gone and its fault route removed."""
        address = self._bare(network.name)
        with self._lock:
            self._lent = max(0, self._lent - 1)
            kept = address is not None and not self._closed and len(self._idle) < self.keep
            if kept:
                self._idle.append((PooledNetwork(network.name, str(address)), self._clock()))
                self._expire_later()
        if not kept:
            self._remove(network.name)

    def drop_idle(self) -> bool:
        """Remove the idle networks, and make none ahead for a while: Docker ran out of
        address pools for a job. Whether there were any."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._starved_until = self._clock() + STARVED_S
        for network, _ in idle:
            self._remove(network.name)
        return bool(idle)

    def close(self, remove_idle: bool = True) -> None:
        """No more networks kept or made ahead; the idle ones removed (or left to a clean-up
        by the server's labels, which removes the gateway first: one call less each).
        Idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            making = list(self._making)
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
        for thread in making:  # it removes what it made, the pool being closed
            thread.join(CLOSE_WAIT_S)
        for network, _ in idle if remove_idle else []:
            self._remove(network.name)

    # -- inside ---------------------------------------------------------------------------
    def _bare(self, network: str) -> str | None:
        """The gateway's address on `network` if it is the only container there."""
        members = self.engine.network_members(network)
        address = members.get(self.gateway.name)
        return address if address and len(members) == 1 else None

    def _make(self) -> PooledNetwork:
        name, _ = self.engine.create_network(pool_network_name(self.server_id,
                                                               next(self._numbers)),
                                             L.pool_labels(self.server_id))
        try:
            address = self.engine.attach_gateway(self.gateway.name, self.gateway.image, name,
                                                 self.gateway.socket, self.gateway.labels)
        except BaseException:
            self.engine.remove_network(name)
            raise
        return PooledNetwork(name, address)

    def _remove(self, network: str) -> None:
        self.engine.detach_gateway(self.gateway.name, network)
        self.engine.remove_network(network)

    def _make_ahead(self) -> None:
        with self._lock:
            self._making = [t for t in self._making if t.is_alive()]
            if self._closed or len(self._idle) + len(self._making) >= self.spares \
                    or self._clock() < self._starved_until:
                return
            thread = threading.Thread(target=self._make_one_ahead, daemon=True,
                                      name=f"smemu-{self.server_id}-network-ahead")
            self._making.append(thread)
            thread.start()  # under the lock: alive before anyone counts it

    def _make_one_ahead(self) -> None:
        made: PooledNetwork | None = None
        try:
            made = self._make()
        except AddressPoolsExhausted:  # the jobs need them more than the pool does
            with self._lock:
                self._starved_until = self._clock() + STARVED_S
        except Exception:  # a job that finds the pool empty makes its own
            log.warning("could not make a job network ahead", exc_info=True)
        with self._lock:
            kept = made is not None and not self._closed
            if kept and made is not None:
                self._idle.insert(0, (made, self._clock()))  # taken after the given-back ones
                self._expire_later()
        if made is not None and not kept:
            self._remove(made.name)

    def _expire_later(self) -> None:
        """One timer, for the oldest idle network (under the lock)."""
        if self._expiry is not None or not self._idle or self._closed:
            return
        oldest = min(since for _, since in self._idle)
        delay = max(0.0, oldest + self.idle_seconds - self._clock())
        self._expiry = threading.Timer(delay, self._expire)
        self._expiry.daemon = True
        self._expiry.start()

    def _expire(self) -> None:
        with self._lock:
            self._expiry = None
            now = self._clock()
            expired = [n for n, since in self._idle if now - since >= self.idle_seconds]
            self._idle = [(n, s) for n, s in self._idle if now - s < self.idle_seconds]
            self._expire_later()
        for network in expired:
            self._remove(network.name)
