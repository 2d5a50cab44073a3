"""Which job's S3 faults a container's request gets, by the gateway address it came in on.

The endpoint's one S3 gateway has one address on each running job's network; a container's
request arrives tagged with the address it was sent to (emulator.server.gateway_origin). A job
whose faults cover its container's traffic routes its address to its injector while it runs.
"""

from __future__ import annotations

import threading

from emulator.faults.s3_injector import S3FaultInjector


class ContainerFaultRoutes:
    """Gateway address on a job network -> that job's injector. Thread-safe."""

    def __init__(self) -> None:
        self._by_address: dict[str, S3FaultInjector] = {}
        self._lock = threading.Lock()

    def route(self, address: str, injector: S3FaultInjector) -> None:
        with self._lock:
            self._by_address[address] = injector

    def unroute(self, address: str, injector: S3FaultInjector) -> None:
        """Forget `address`, unless another job's network got the address since (a job that
        ends late must not take a newer job's faults away)."""
        with self._lock:
            if self._by_address.get(address) is injector:
                del self._by_address[address]

    def injector_for(self, address: str) -> S3FaultInjector | None:
        with self._lock:
            return self._by_address.get(address)
