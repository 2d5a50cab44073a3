"""HTTP/1.1 keep-alive for werkzeug's request handler.

werkzeug's development server answers every response with `Connection: close`, because
http.server does not know where a request's body ends when the application did not read all of
it, and its own drain after the response reads whatever the socket holds next (with keep-alive:
the client's next request). So every boto3 call, `aws s3` part and SDK request paid a new TCP
connection, and a client in a container a new connection through the gateway.

Here the application reads the body through `BodyInput`, which never reads past the declared
Content-Length and counts what it read. The connection stays open when the request's body was
read to its end (or the rest is small enough to read and drop after the response), the response
body was sent whole, and the client did not ask to close; otherwise the response says
`Connection: close`, as before. werkzeug's own drain sees an empty stream.
"""

from __future__ import annotations

import io
import selectors
import socket
from typing import Any

from werkzeug.serving import DechunkedInput, WSGIRequestHandler

# The rest of a request body the application left unread, read and dropped after the response
# so the connection can serve the next request; a longer rest closes the connection instead.
DRAIN_LIMIT = 1 << 20
_CLOSE_DRAIN_LIMIT = 10_000_000_000  # werkzeug's: what a closing connection reads at most


class BodyInput(io.RawIOBase):
    """The request body: at most `length` bytes of `stream`, counted."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self.remaining = length
        self.failed = False  # a read raised (a timeout, a reset): the stream's place is lost

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self.remaining)
        if size <= 0:
            return 0
        data = self._read(self._stream.read, size)
        buffer[:len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        return self._read(self._stream.read, size) if size > 0 else b""

    def readline(self, size: int | None = -1) -> bytes:
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        return self._read(self._stream.readline, size) if size > 0 else b""

    def _read(self, read: Any, size: int) -> bytes:
        try:
            data = bytes(read(size))
        except BaseException:
            self.failed = True
            raise
        if not data:  # the client went away before sending the whole body
            self.failed = True
        self.remaining -= len(data)
        return data


class _Drained:
    """What werkzeug's post-response drain reads: nothing (the next request is not its)."""

    @staticmethod
    def read(size: int = -1) -> bytes:
        return b""


class _CountingWriter:
    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return int(self._stream.write(data))

    def flush(self) -> None:
        self._stream.flush()


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's handler, keeping HTTP/1.1 connections open between requests."""

    _body: BodyInput | DechunkedInput | None = None
    _declared_length: int | None = None  # the response's Content-Length
    _body_start = 0

    def setup(self) -> None:
        super().setup()
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):  # not the unix socket
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        self._body, self._declared_length = None, None
        super().handle_one_request()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's de-chunker, on the socket
            self._body = DechunkedInput(self._socket_input)  # type: ignore[arg-type]
        else:
            try:
                length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
            except ValueError:
                length = 0
            self._body = BodyInput(self._socket_input, length)
        environ["wsgi.input"] = self._body
        return environ

    def run_wsgi(self) -> None:
        self._socket_input = self.rfile
        socket_output = self.wfile
        writer = _CountingWriter(socket_output)
        self.rfile, self.wfile = _Drained(), writer  # type: ignore[assignment]
        try:
            super().run_wsgi()
        finally:
            self.rfile, self.wfile = self._socket_input, socket_output
        if not self.close_connection and not self._response_complete(writer.count):
            self.close_connection = True  # the application failed mid-answer
        if not self.close_connection and not self._drain():
            self.close_connection = True
        if self.close_connection:
            self._drain_before_close()

    def send_header(self, keyword: str, value: str) -> None:
        name = keyword.lower()
        if name == "connection" and value.lower() == "close" and self._may_keep_alive():
            return  # werkzeug's blanket `Connection: close`
        if name == "content-length":
            try:
                self._declared_length = int(value)
            except ValueError:
                self._declared_length = None
        super().send_header(keyword, value)

    def end_headers(self) -> None:
        super().end_headers()
        self._body_start = getattr(self.wfile, "count", 0)

    def _may_keep_alive(self) -> bool:
        body = self._body
        if self.close_connection or self.request_version != "HTTP/1.1" or body is None:
            return False
        if isinstance(body, BodyInput):
            return not body.failed and body.remaining <= DRAIN_LIMIT
        return bool(body._done)

    def _response_complete(self, written: int) -> bool:
        if self.command == "HEAD" or self._declared_length is None:
            return True  # no body, or chunked (werkzeug closes a broken chunked answer itself)
        return written - self._body_start == self._declared_length

    def _drain(self) -> bool:
        """Read and drop what is left of the request body; True when it all came."""
        body = self._body
        if isinstance(body, DechunkedInput):
            return bool(body._done)
        if body is None or body.failed:
            return False
        try:
            while body.remaining > 0:
                if not body.read(1 << 16):
                    return False
        except OSError:
            return False
        return True

    def _drain_before_close(self) -> None:
        """Read what the client still sends (as werkzeug does), so that it sees the answer
        rather than a reset connection."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.connection, selectors.EVENT_READ)
            total = reads = 0
            while selector.select(timeout=0.01):
                data = self.rfile.read1(10_000_000)
                total, reads = total + len(data), reads + 1
                if not data or total >= _CLOSE_DRAIN_LIMIT or reads > 1000:
                    break
