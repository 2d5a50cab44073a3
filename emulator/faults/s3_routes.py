"""Which job's S3 faults a container's request gets, by the gateway address it came in on.

The endpoint's one S3 gateway has one address on each running job's network; a container's
request arrives tagged with the address it was sent to and the container's own
(emulator.server.gateway_origin). A job whose faults cover its container's traffic routes its
gateway address to its injector while it runs.

The container's address must lie in that network too. A container that crafted packets for the
gateway's address on another job's network (the gateway's kernel would accept them on any of
its interfaces) has to send from its own network's addresses to get answers back, so the
request does not count as the other job's, and gets no faults at all.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass

from emulator.faults.s3_injector import S3FaultInjector


@dataclass(frozen=True)
class _Route:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    injector: S3FaultInjector


class ContainerFaultRoutes:
    """Gateway address on a job network -> that job's injector. Thread-safe."""

    def __init__(self) -> None:
        self._by_address: dict[str, _Route] = {}
        self._lock = threading.Lock()

    def route(self, gateway: str, injector: S3FaultInjector) -> None:
        """`gateway`: its address on the job's network with the prefix, "172.18.0.2/16"."""
        interface = ipaddress.ip_interface(gateway)
        with self._lock:
            self._by_address[str(interface.ip)] = _Route(interface.network, injector)

    def unroute(self, gateway: str, injector: S3FaultInjector) -> None:
        """Forget `gateway`, unless another job's network got the address since (a job that
        ends late must not take a newer job's faults away)."""
        address = str(ipaddress.ip_interface(gateway).ip)
        with self._lock:
            route = self._by_address.get(address)
            if route is not None and route.injector is injector:
                del self._by_address[address]

    def injector_for(self, gateway: str, container: str) -> S3FaultInjector | None:
        """The injector of the job whose network holds both addresses, if it has one."""
        try:
            source = ipaddress.ip_address(container)
        except ValueError:
            return None
        with self._lock:
            route = self._by_address.get(gateway)
        return route.injector if route is not None and source in route.network else None
