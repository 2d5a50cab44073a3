"""One job's network and its containers' way to the endpoint (the S3 gateway).

Made, or taken from the endpoint's pool, when the first attempt is about to launch (not while
the job waits for spot capacity), kept for the later attempts, and given back or removed at the
job's end. A single-host job that reaches the endpoint takes a pooled network (the gateway
already on it); a multi-instance job needs a pinned subnet for its fixed host addresses and an
isolated job no gateway, so each of those gets a network of its own, labelled as the job's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from emulator.errors import AddressPoolsExhausted
from emulator.faults.s3_injector import S3FaultInjector
from emulator.jobs.context import RunnerContext
from emulator.runtime import labels as L
from emulator.runtime.network_pool import PooledNetwork, gateway_name
from emulator.runtime.translate import gateway_url, host_addresses

log = logging.getLogger(__name__)
T = TypeVar("T")


class JobNetwork:
    def __init__(self, ctx: RunnerContext, job_name: str, hosts: list[str], *,
                 isolated: bool, injector: S3FaultInjector | None) -> None:
        self.ctx = ctx
        self.job_name = job_name
        self.hosts = hosts
        self.isolated = isolated
        self.injector = injector  # the job's faults on its containers' S3 calls, if any
        self.name: str | None = None
        self.addresses: dict[str, str] = {}  # fixed host addresses (multi-instance jobs)
        self.endpoint_url_inside: str | None = None  # how containers reach the endpoint
        self.pooled: PooledNetwork | None = None  # lent by the pool, given back at the end
        self._gateway: str | None = None  # the endpoint's S3 gateway, while on our network
        self._routed: str | None = None  # its address there, routed to our S3 faults

    def ensure(self) -> None:
        if self.name is not None:
            return
        pool = self.ctx.network_pool
        if pool is not None and len(self.hosts) == 1 and not self.isolated:
            self.pooled = self._with_room(pool.take)
            if self.pooled is not None:
                self.name = self.pooled.name
                self._reach(pool.gateway.name, self.pooled.gateway_address)
                return
        self.name, subnet = self._with_room(lambda: self.ctx.engine.create_network(
            f"smemu-{self.ctx.server_id}-{self.job_name}",
            L.job_labels(self.ctx.server_id, self.job_name), pinned=len(self.hosts) > 1))
        if subnet:
            self.addresses = host_addresses(subnet, self.hosts)
        self._start_gateway()

    def release(self) -> None:
        """At the job's end, its containers removed: the route first (only then may the
        gateway's address serve another job), then the network back to the pool or gone."""
        if self._routed and self.injector is not None:
            self.ctx.container_s3_faults.unroute(self._routed, self.injector)
            self._routed = None
        if self.pooled is not None and self.ctx.network_pool is not None:
            self.ctx.network_pool.give_back(self.pooled)
        elif self.name is not None:
            if self._gateway:
                self.ctx.engine.detach_gateway(self._gateway, self.name)
            self.ctx.engine.remove_network(self.name)
        self.name = self.pooled = self._gateway = None

    def _start_gateway(self) -> None:
        """Put the endpoint (S3 and the rest) on the job's own network, unless isolated."""
        if self.isolated or self.ctx.gateway_socket is None or self.name is None:
            return
        if not self.ctx.engine.image_exists(self.ctx.gateway_image):
            log.warning("no %s image: job %s runs without S3 access from its containers "
                        "(make images builds it)", self.ctx.gateway_image, self.job_name)
            return
        name = gateway_name(self.ctx.server_id)
        address = self.ctx.engine.attach_gateway(name, self.ctx.gateway_image, self.name,
                                                 self.ctx.gateway_socket,
                                                 L.server_labels(self.ctx.server_id))
        self._reach(name, address)

    def _reach(self, gateway: str, address: str) -> None:
        self._gateway = gateway
        self.endpoint_url_inside = gateway_url()
        if self.injector is not None:  # before any container can call S3
            self.ctx.container_s3_faults.route(address, self.injector)
            self._routed = address

    def _with_room(self, make: Callable[[], T]) -> T:
        """`make()`, once more after the pool's idle networks are gone if Docker ran out of
        address pools: a job needs a network more than the pool needs spares."""
        try:
            return make()
        except AddressPoolsExhausted:
            pool = self.ctx.network_pool
            if pool is None or not pool.drop_idle():
                raise
            return make()
