"""S3 faults on a training container's own S3 calls (`--s3-faults ... scope=container|all`).

A request a container sends through the S3 gateway carries, in its environ, the gateway's
address on the network it came in on (emulator.server.gateway_origin reads it from the
connection's PROXY line). That address stands for one job's network, so it selects the job's
injector in `ContainerFaultRoutes` (emulator.faults.s3_routes); a request from the host (the
port, not the gateway's socket) has no such address and is never touched, nor is a job's
request by another job's faults.

The injector decides per request: a delay (latency, and the body at the spec's bandwidth), then
an error or none. Errors are answered in S3's XML format (503 SlowDown, 500 InternalError, 503
ServiceUnavailable in an outage), the way boto3's retry handlers recognise them; a request
answered with an error is not served. A request that changes nothing (GET, HEAD) is served
first and decided then, so its delay covers the size of the body it returns; one that may
change something (PUT, POST, DELETE) is decided before it reaches S3. The clients' retries
(which their SDK announces in its headers: emulator.api.sdk_retries) are counted too.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Response

from emulator.api.sdk_retries import RetryWatch
from emulator.api.wire_errors import REST_XML, WireRequest, error_response
from emulator.faults.s3_injector import S3Decision, S3Fault, S3FaultInjector
from emulator.faults.s3_routes import ContainerFaultRoutes

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
GATEWAY_ADDRESS = "smemu.gateway_address"  # environ: the gateway's address on the job network
CONTAINER_ADDRESS = "smemu.container_address"  # environ: the container's address there
_SAFE_METHODS = ("GET", "HEAD")
_REASONS = {"SlowDown": "Slow Down"}  # S3's own reason phrase, where not HTTP's


class ContainerS3Faults:
    """Serves S3 requests through `app`, with the faults of the job they come from."""

    def __init__(self, routes: ContainerFaultRoutes,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.routes = routes
        self._sleep = sleep
        self._retries = RetryWatch()  # the clients' own retries, counted into the report

    def injector_for(self, environ: dict[str, Any]) -> S3FaultInjector | None:
        gateway, container = environ.get(GATEWAY_ADDRESS), environ.get(CONTAINER_ADDRESS)
        return self.routes.injector_for(gateway, container) if gateway and container else None

    def __call__(self, app: WsgiApp, environ: dict[str, Any],
                 start_response: Any) -> Iterable[bytes]:
        injector = self.injector_for(environ)
        if injector is None:
            return app(environ, start_response)
        waited = self._retries.waited_before(environ)
        if waited is not None:
            injector.note_retry(waited)
        if environ.get("REQUEST_METHOD", "GET").upper() in _SAFE_METHODS:
            return self._served_then_decided(injector, app, environ, start_response)
        decision = injector.decide(_upload_size(environ))
        if decision.delay > 0:
            self._sleep(decision.delay)
        if decision.error is not None:
            return self._fault(decision.error, environ, start_response)
        return app(environ, start_response)

    def _fault(self, fault: S3Fault, environ: dict[str, Any],
               start_response: Any) -> Iterable[bytes]:
        self._retries.failed(environ)
        return fault_response(fault, environ)(environ, start_response)

    def _served_then_decided(self, injector: S3FaultInjector, app: WsgiApp,
                             environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        captured: list[tuple[str, list[tuple[str, str]]]] = []
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]],
                    exc_info: Any = None) -> Callable[[bytes], None]:
            captured[:] = [(status, headers)]
            return written.append

        chunks = app(environ, capture)
        iterator = iter(chunks)
        if not captured:  # a lazy app starts its answer with its first chunk
            written.append(next(iterator, b""))
        status, headers = captured[0] if captured else ("200 OK", [])
        decision: S3Decision = injector.decide(_body_size(environ, status, headers))
        if decision.delay > 0:
            self._sleep(decision.delay)
        if decision.error is not None:
            _close(chunks)
            return self._fault(decision.error, environ, start_response)
        start_response(status, headers)
        return _Body(written, iterator, chunks)


def fault_response(fault: S3Fault, environ: dict[str, Any]) -> Response:
    """The injected error as S3 answers it: its XML body (none for HEAD), request ids."""
    request = WireRequest(REST_XML, "s3", "", str(environ.get("CONTENT_TYPE", "")))
    response = error_response(request, fault.status, fault.code, fault.message)
    response.status = f"{fault.status} {_REASONS.get(fault.code, HTTPStatus(fault.status).phrase)}"
    response.headers["x-amz-id-2"] = base64.b64encode(os.urandom(48)).decode()
    if environ.get("REQUEST_METHOD", "").upper() == "HEAD":
        response.set_data(b"")
    return response


def _upload_size(environ: dict[str, Any]) -> int:
    """The bytes the request's body carries (aws-chunked bodies declare their payload's)."""
    return _declared_length(environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH")
                            or environ.get("CONTENT_LENGTH"))


def _body_size(environ: dict[str, Any], status: str, headers: list[tuple[str, str]]) -> int:
    """The bytes the answer's body carries (0 for HEAD and for errors)."""
    if environ.get("REQUEST_METHOD", "").upper() == "HEAD" or not status.startswith("2"):
        return 0
    for name, value in headers:
        if name.lower() == "content-length":
            return _declared_length(value)
    return 0


def _declared_length(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _close(chunks: Iterable[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


class _Body:
    """The served answer's body, closing the application's iterable when done (PEP 3333)."""

    def __init__(self, written: list[bytes], rest: Any, chunks: Iterable[bytes]) -> None:
        self._written = written  # what came through write(), or a lazy app's first chunk
        self._rest = rest
        self._chunks = chunks

    def __iter__(self) -> Any:
        yield from self._written
        yield from self._rest

    def close(self) -> None:
        _close(self._chunks)
