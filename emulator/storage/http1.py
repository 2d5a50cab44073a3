"""A minimal HTTP/1.1 client for the lean S3 path: keep-alive sockets, nothing else.

Measured per small GET on 2 cores: urllib3 0.45 ms of CPU, http.client 0.23 ms (its header
parsing goes through the email package), this 0.06 ms. It speaks only what S3 servers answer
to GetObject/PutObject/HeadObject/ListObjectsV2: a status line, headers, then a body framed by
Content-Length, chunked transfer coding, or the end of the connection. Nothing is retried here
(the checkpoint engine's one retry layer does it); an idle kept-alive socket the server closed
is replaced before it is used.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedReader
from typing import Any, cast

_SEND_BLOCK = 1024 * 1024
_READ_BLOCK = 1024 * 1024
_MAX_HEADER_LINES = 200


class ConnectionDropped(ConnectionError):
    """The server closed the connection before a complete response."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes | bytearray = b""


class Http1Pool:
    """Keep-alive connections to one ``host:port``; thread-safe; at most ``size`` kept idle."""

    def __init__(self, host: str, port: int, *, size: int, connect_timeout: float,
                 read_timeout: float) -> None:
        self.host = host
        self.port = port
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal goes in brackets
        self.host_header = name if port == 80 else f"{name}:{port}"
        self._size = max(1, size)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: list[tuple[socket.socket, BufferedReader]] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- connections ---------------------------------------------------------------------

    def _take(self, reuse: bool) -> tuple[tuple[socket.socket, BufferedReader], bool]:
        """A connection, and whether it is a kept-alive one (``reuse``: may it be)."""
        while reuse:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if _still_open(conn[0]):
                return conn, True
            _close(conn)
        sock = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._read_timeout)
        return (sock, cast(BufferedReader, sock.makefile("rb", buffering=256 * 1024))), False

    def _give_back(self, conn: tuple[socket.socket, BufferedReader]) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._size:
                self._idle.append(conn)
                return
        _close(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    # -- requests ------------------------------------------------------------------------

    def request(self, method: str, path: str, headers: dict[str, str], *,
                body: bytes | Any = None, sink: Callable[[bytes], None] | None = None,
                replayable: bool = True) -> Response:
        """Send one request; the response body goes to ``sink`` piece by piece when given
        (only for a 2xx answer), else into ``Response.body``. ``body`` is bytes or an object
        with ``read(n)`` (then give Content-Length in ``headers`` and ``replayable=False``)."""
        replayable = replayable and (body is None or isinstance(body, bytes | bytearray))
        try:
            return self._once(method, path, headers, body, sink, reuse=True)
        except _StaleConnection:
            # A kept-alive connection the server had closed: not a failure of the request.
            if not replayable:
                raise
            return self._once(method, path, headers, body, sink, reuse=False)

    def _once(self, method: str, path: str, headers: dict[str, str], body: Any,
              sink: Callable[[bytes], None] | None, *, reuse: bool) -> Response:
        conn, reused = self._take(reuse)
        sock, reader = conn
        reusable = False
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            if not any(k.lower() == "content-length" for k in headers):
                if isinstance(body, bytes | bytearray):
                    lines.append(f"Content-Length: {len(body)}")
                elif body is None and method in ("PUT", "POST"):
                    lines.append("Content-Length: 0")
                elif body is not None:
                    raise ValueError("a streamed body needs its Content-Length")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            try:
                if isinstance(body, bytes | bytearray) and len(body) <= _SEND_BLOCK:
                    sock.sendall(head + body)
                else:
                    sock.sendall(head)
                    if isinstance(body, bytes | bytearray):
                        sock.sendall(body)
                    elif body is not None:
                        while chunk := body.read(_SEND_BLOCK):
                            sock.sendall(chunk)
            except OSError as exc:
                # The server may have answered (an error) and closed before taking the body.
                if not _readable(sock):
                    if reused:
                        raise _StaleConnection(str(exc)) from exc
                    raise
            try:
                status, response_headers, keep_alive = _read_head(reader)
            except (ConnectionDropped, ConnectionResetError) as exc:
                if reused:
                    raise _StaleConnection(str(exc)) from exc
                raise
            response = Response(status, response_headers)
            to_sink = sink if sink is not None and 200 <= status < 300 else None
            data = _read_body(reader, method, status, response_headers, to_sink)
            response.body = data
            reusable = keep_alive
            return response
        finally:
            if reusable:
                self._give_back(conn)
            else:
                _close(conn)


class _StaleConnection(ConnectionDropped):
    """A kept-alive connection failed before any answer: the server had closed it."""


class _SinkStarted(ConnectionError):
    """Part of the body already went to the sink: only the caller can start over."""


def _read_head(reader: BufferedReader) -> tuple[int, dict[str, str], bool]:
    while True:
        line = reader.readline(65537)
        if not line:
            raise ConnectionDropped("connection closed before a response")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ConnectionDropped(f"not an HTTP response: {line[:80]!r}")
        version, status = parts[0], int(parts[1])
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            raw = reader.readline(65537)
            if not raw:
                raise ConnectionDropped("connection closed inside the response headers")
            if raw in (b"\r\n", b"\n"):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        else:
            raise ConnectionDropped("too many response header lines")
        if 100 <= status < 200:
            continue  # 100 Continue and friends: the real answer follows
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (
            version != "HTTP/1.0" or "keep-alive" in connection
        )
        return status, headers, keep_alive


def _read_body(reader: BufferedReader, method: str, status: int, headers: dict[str, str],
               sink: Callable[[bytes], None] | None) -> bytes | bytearray:
    if method == "HEAD" or status in (204, 304):
        return b""
    pieces: list[bytes] = []
    started = False

    def deliver(data: bytes) -> None:
        nonlocal started
        if sink is None:
            pieces.append(data)
        else:
            started = True
            sink(data)

    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            _read_chunked(reader, deliver)
        elif "content-length" in headers and sink is None:
            # Straight into one buffer: no per-piece bytes objects and no join afterwards.
            body = bytearray(int(headers["content-length"]))
            view, got = memoryview(body), 0
            while got < len(body):
                n = reader.readinto(view[got:])
                if not n:
                    raise ConnectionDropped(f"body ended {len(body) - got} bytes short")
                got += n
            return body
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left > 0:
                data = reader.read(min(left, _READ_BLOCK))
                if not data:
                    raise ConnectionDropped(f"body ended {left} bytes short")
                left -= len(data)
                deliver(data)
        else:  # framed by the end of the connection (the caller will not reuse it)
            while data := reader.read(_READ_BLOCK):
                deliver(data)
    except (ConnectionError, OSError) as exc:
        if started:
            raise _SinkStarted(str(exc)) from exc
        raise
    return b"".join(pieces)


def _read_chunked(reader: BufferedReader, deliver: Callable[[bytes], None]) -> None:
    while True:
        line = reader.readline(65537)
        if not line:
            raise ConnectionDropped("connection closed inside a chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (trailer := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
                del trailer
            return
        left = size
        while left > 0:
            data = reader.read(min(left, _READ_BLOCK))
            if not data:
                raise ConnectionDropped("connection closed inside a chunk")
            left -= len(data)
            deliver(data)
        reader.readline(65537)  # the CRLF after the chunk


def _readable(sock: socket.socket) -> bool:
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return False


def _still_open(sock: socket.socket) -> bool:
    """An idle kept-alive socket has nothing to read; readable means closed (or garbage)."""
    return not _readable(sock)


def _close(conn: tuple[socket.socket, BufferedReader]) -> None:
    sock, reader = conn
    try:
        reader.close()
    finally:
        sock.close()
