"""The endpoint's TCP connections have Nagle's algorithm off (TCP_NODELAY), its unix socket
(the gateway's) serves as before.

werkzeug writes a response's headers and its body in two sends: on a kept-alive connection
with Nagle on, a small body waited for the client's delayed ACK of the headers (40 ms on
Linux), on every SageMaker call and every small S3 request.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from emulator.server.handler import request_handler


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


class _Recorded:
    nodelay: list[int] = []


def _recording_handler() -> type:
    base = request_handler(5.0)

    class Recording(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            super().setup()
            if self.connection.family != socket.AF_UNIX:
                _Recorded.nodelay.append(
                    self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    return Recording


def _serving(server: BaseWSGIServer) -> Iterator[BaseWSGIServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def tcp_server() -> Iterator[BaseWSGIServer]:
    _Recorded.nodelay.clear()
    yield from _serving(make_server("127.0.0.1", 0, _app, threaded=True,
                                    request_handler=_recording_handler()))


def test_a_tcp_connection_has_nagle_off(tcp_server: BaseWSGIServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", tcp_server.server_port, timeout=10)
    for _ in range(2):  # kept alive: one connection, one setup
        conn.request("GET", "/")
        answer = conn.getresponse()
        assert answer.status == 200 and answer.read() == b"ok"
    conn.close()
    assert _Recorded.nodelay == [1]


def test_the_unix_socket_still_serves(tmp_path: Path) -> None:
    path = tmp_path / "endpoint.sock"
    server = make_server(f"unix://{path}", 0, _app, threaded=True,
                         request_handler=request_handler(5.0))
    for _ in _serving(server):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok")
