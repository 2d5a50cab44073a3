"""HTTP/1.1 keep-alive on the endpoint's port and on the gateway's unix socket.

One connection serves request after request; a body the application did not read is read
and dropped (never taken for the next request), or, when long, the answer says
`Connection: close`; an idle connection is closed after the request timeout, on the unix
socket too (the one gateway outlives the jobs whose containers opened connections through it).
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.server.endpoint import EndpointServer
from emulator.server.keepalive import DRAIN_LIMIT

TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def endpoint(docker_client: object) -> Iterator[EndpointServer]:
    with EndpointServer(port=0, ephemeral=True, request_timeout=TIMEOUT_S) as server:
        yield server


def connect(endpoint: EndpointServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=30)


def test_one_connection_serves_many_requests(endpoint: EndpointServer) -> None:
    conn = connect(endpoint)
    conn.connect()
    first = conn.sock
    for method, path, headers in [
        ("GET", "/_smemu/health", {}),
        ("POST", "/", {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                       "Content-Type": "application/x-amz-json-1.1"}),
        ("GET", "/", {}),  # S3 ListBuckets (moto)
    ]:
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200, (path, answer.status)
        assert answer.getheader("Connection") != "close"
    assert conn.sock is first  # no reconnect
    conn.close()


def test_an_unread_body_is_not_taken_for_the_next_request(endpoint: EndpointServer) -> None:
    conn = connect(endpoint)
    # The health route reads no body: the server drops these bytes, which look like a request.
    conn.request("POST", "/_smemu/health", body=b"GET /_smemu/nothing HTTP/1.1\r\n\r\n" * 100)
    answer = conn.getresponse()
    assert answer.status == 200 and b'"status": "ok"' in answer.read()
    conn.request("GET", "/_smemu/health")
    answer = conn.getresponse()
    assert answer.status == 200 and b'"status": "ok"' in answer.read()
    conn.close()


def test_a_long_unread_body_closes_the_connection(endpoint: EndpointServer) -> None:
    conn = connect(endpoint)
    conn.request("POST", "/_smemu/health", body=b"x" * (DRAIN_LIMIT + 1024))
    answer = conn.getresponse()
    assert answer.status == 200
    answer.read()
    assert answer.getheader("Connection") == "close"
    conn.close()


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("where", ["port", "gateway socket"])
def test_an_idle_kept_alive_connection_is_closed(endpoint: EndpointServer, where: str) -> None:
    if where == "port":
        sock = socket.create_connection(("127.0.0.1", endpoint.port))
    else:
        assert endpoint._socket_dir is not None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(Path(endpoint._socket_dir) / "endpoint.sock"))
        sock.sendall(b"PROXY TCP4 172.30.0.5 172.30.0.2 40000 4590\r\n")  # as the gateway
    sock.settimeout(30)
    sock.sendall(b"GET /_smemu/health HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.monotonic()
    data = _read_until_closed(sock)  # the answer, then the server closes the idle connection
    sock.close()
    assert b'"status": "ok"' in data
    assert TIMEOUT_S * 0.5 < time.monotonic() - started < 25
