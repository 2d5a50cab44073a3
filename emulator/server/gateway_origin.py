"""Which job network a request through the S3 gateway came from.

The gateway's forwarder (emulator.runtime.gateway_forwarder) starts every connection to the
endpoint's unix socket with a PROXY protocol v1 line: the container's address and the gateway's
own address on the network the connection came in on. That line is read here, before HTTP, and
put in each request's environ, so the application can tell one job's container traffic from
another's (emulator.api.container_s3_faults). A connection without the line is not the
gateway's and is closed: only the forwarder speaks on this socket.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from emulator.api.container_s3_faults import CONTAINER_ADDRESS, GATEWAY_ADDRESS
from emulator.server.handler import AwsRequestHandler

log = logging.getLogger(__name__)
MAX_PROXY_LINE = 107  # PROXY v1's longest line, CRLF included


@dataclass(frozen=True)
class GatewayOrigin:
    container: str  # the container's address on its job network
    gateway: str  # the gateway's address on that network: one per job network


def parse_proxy_line(line: bytes) -> GatewayOrigin | None:
    """`PROXY TCP4 <source> <destination> <source port> <destination port>\\r\\n`, else None."""
    if not line.endswith(b"\r\n") or len(line) > MAX_PROXY_LINE:
        return None
    parts = line[:-2].decode("ascii", errors="replace").split(" ")
    if len(parts) != 6 or parts[0] != "PROXY" or parts[1] not in ("TCP4", "TCP6"):
        return None
    try:
        source, destination = (ipaddress.ip_address(p) for p in parts[2:4])
        ports = [int(p) for p in parts[4:6]]
    except ValueError:
        return None
    if not all(0 <= port <= 65535 for port in ports):
        return None
    return GatewayOrigin(str(source), str(destination))


class GatewayRequestHandler(AwsRequestHandler):
    """The unix socket's handler: reads the PROXY line once per connection, then HTTP."""

    origin: GatewayOrigin | None = None

    def handle(self) -> None:
        try:
            line = self.rfile.readline(MAX_PROXY_LINE + 1)
        except OSError:  # the idle timeout, or the forwarder went away
            return
        self.origin = parse_proxy_line(line)
        if self.origin is None:
            log.warning("closed a connection to the gateway socket that did not start with "
                        "a PROXY line: %r", line[:MAX_PROXY_LINE])
            return
        super().handle()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if self.origin is not None:
            environ[GATEWAY_ADDRESS] = self.origin.gateway
            environ[CONTAINER_ADDRESS] = self.origin.container
            environ["REMOTE_ADDR"] = self.origin.container
        return environ

    def address_string(self) -> str:  # the access log's client
        return self.origin.container if self.origin is not None else super().address_string()


def gateway_request_handler(timeout_s: float) -> type[GatewayRequestHandler]:
    """The handler class with its idle timeout (http.server reads it from the class)."""
    return type("GatewayRequestHandler", (GatewayRequestHandler,), {"timeout": timeout_s})
