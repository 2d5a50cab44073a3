"""http1.Http1Pool against a scripted socket server: framing, keep-alive, retries."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from emulator.storage.http1 import ConnectionDropped, Http1Pool

Handler = Callable[[socket.socket, bytes, int], bool]  # (conn, request head, n) -> keep open


class Scripted:
    """Accepts connections; answers each request with ``handler``; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.bodies: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.bodies.append(reader.read(length) if length else b"")
                self.requests += 1
                if not self.handler(conn, head, self.requests):
                    return
        finally:
            reader.close()
            conn.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], Scripted]]:
    servers: list[Scripted] = []

    def start(handler: Handler) -> Scripted:
        servers.append(Scripted(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _pool(server: Scripted) -> Http1Pool:
    return Http1Pool("127.0.0.1", server.port, size=2, connect_timeout=2, read_timeout=5)


def _answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    headers = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


def test_content_length_bodies_on_one_kept_alive_connection(serve):
    server = serve(lambda c, h, n: c.sendall(_answer(b"x" * n * 1000)) or True)
    pool = _pool(server)
    for n in (1, 2, 3):
        assert pool.request("GET", "/k", {}).body == b"x" * n * 1000
    assert server.connections == 1
    pool.close()


def test_chunked_body_and_sink(serve):
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
    server = serve(lambda c, h, n: c.sendall(chunked) or True)
    pool = _pool(server)
    got: list[bytes] = []
    response = pool.request("GET", "/k", {}, sink=got.append)
    assert b"".join(got) == b"hello world" and response.body == b""
    assert pool.request("GET", "/k", {}).body == b"hello world"  # same connection again
    assert server.connections == 1


def test_close_framed_body_and_connection_close(serve):
    def handler(c: socket.socket, h: bytes, n: int) -> bool:
        c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        return False

    server = serve(handler)
    pool = _pool(server)
    assert pool.request("GET", "/k", {}).body == b"until the end"
    assert pool.request("GET", "/k", {}).body == b"until the end"
    assert server.connections == 2


def test_interim_100_continue_is_skipped_and_headers_are_lowercased(serve):
    server = serve(lambda c, h, n: c.sendall(
        b"HTTP/1.1 100 Continue\r\n\r\n" + _answer(b"ok", "ETag: \"abc\"")) or True)
    response = _pool(server).request("PUT", "/k", {}, body=b"data")
    assert (response.status, response.body, response.headers["etag"]) == (200, b"ok", '"abc"')
    assert server.bodies == [b"data"]


def test_head_has_no_body_even_with_a_length(serve):
    server = serve(lambda c, h, n: c.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\nServer: Werkzeug/3\r\n\r\n") or True)
    pool = _pool(server)
    assert pool.request("HEAD", "/b", {}).headers["server"] == "Werkzeug/3"
    assert pool.request("HEAD", "/b", {}).status == 200
    assert server.connections == 1


def test_errors_are_answered_once_for_the_one_retry_layer(serve):
    def handler(c: socket.socket, h: bytes, n: int) -> bool:
        if b"/flaky" in h:
            c.sendall(_answer(b"", status="503 Slow Down") if n < 3 else _answer(b"fine"))
        else:
            c.sendall(_answer(b"<Code>NoSuchKey</Code>", status="404 Not Found"))
        return True

    server = serve(handler)
    pool = _pool(server)
    assert pool.request("GET", "/flaky", {}).status == 503
    assert server.requests == 1  # not retried here: emulator.checkpoints.retry does that
    assert pool.request("GET", "/missing", {}).status == 404
    assert server.requests == 2


def test_a_kept_alive_connection_the_server_dropped_is_replaced(serve):
    def handler(c: socket.socket, h: bytes, n: int) -> bool:
        c.sendall(_answer(b"first" if n == 1 else b"again"))
        return n != 1  # close after the first answer, without saying so

    server = serve(handler)
    pool = _pool(server)
    assert pool.request("GET", "/k", {}).body == b"first"
    assert pool.request("PUT", "/k", {}, body=b"payload").body == b"again"
    assert server.connections == 2


def test_a_body_cut_short_raises(serve):
    def handler(c: socket.socket, h: bytes, n: int) -> bool:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        return False

    server = serve(handler)
    got: list[bytes] = []
    with pytest.raises(ConnectionError):
        _pool(server).request("GET", "/k", {}, sink=got.append)
    assert server.requests == 1  # part of it reached the sink: not retried here


def test_streamed_body_needs_a_length(serve):
    server = serve(lambda c, h, n: c.sendall(_answer(b"")) or True)

    class Reader:
        def __init__(self) -> None:
            self.left = [b"abc", b"def"]

        def read(self, n: int) -> bytes:
            return self.left.pop(0) if self.left else b""

    pool = _pool(server)
    with pytest.raises(ValueError, match="Content-Length"):
        pool.request("PUT", "/k", {}, body=Reader(), replayable=False)
    assert pool.request("PUT", "/k", {"Content-Length": "6"}, body=Reader(),
                        replayable=False).status == 200
    assert server.bodies[-1] == b"abcdef"


def test_refused_connection_raises():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = Http1Pool("127.0.0.1", port, size=1, connect_timeout=1, read_timeout=1)
    with pytest.raises(ConnectionError):
        pool.request("GET", "/k", {})
    assert issubclass(ConnectionDropped, ConnectionError)
