"""The HTTP request handler of the endpoint: an idle timeout, and errors that are not HTML.

A client that sends headers and part of a body, then stops, held its server thread forever
(werkzeug sets no socket timeout). With `timeout`, a read that waits longer fails: the
application answers RequestTimeout and the connection is closed; a connection idle between
requests (kept alive: emulator.server.keepalive) is closed too. Requests too broken to reach
the application (a garbled request line, oversized headers) get http.server's own answer,
which is an HTML page and, for an unknown HTTP version, a 505; here it is an AWS-style JSON
error with a 4xx code.

The access log (a line per request, hundreds for a 20 s job) is at DEBUG: werkzeug logs each
request at INFO, and adds a stderr handler of its own when the application configured none, so
an in-process endpoint wrote to its caller's stderr. `smemu serve --verbose` turns it on.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from emulator.server.keepalive import KeepAliveHandler

DEFAULT_REQUEST_TIMEOUT_S = 60.0
access_log = logging.getLogger("emulator.server.access")


class AccessLoggedHandler(KeepAliveHandler):
    """Request lines go to `emulator.server.access`, at DEBUG."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug('%s "%s" %s %s', self.address_string(), self.requestline,
                             code, size)


class AwsRequestHandler(AccessLoggedHandler):
    timeout = DEFAULT_REQUEST_TIMEOUT_S

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        status = code if code < 500 else HTTPStatus.BAD_REQUEST  # the client's request is wrong
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "Bad Request"
        text = f"{message or reason}" + (f": {explain}" if explain else "")
        body = json.dumps({"__type": "MalformedHttpRequest" if status == 400 else
                           reason.replace(" ", ""), "message": text}).encode()
        self.log_error("code %d, message %s", code, message)
        self.send_response(status, reason if status == code else None)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def request_handler(timeout_s: float) -> type[AwsRequestHandler]:
    """The handler class with its idle timeout (http.server reads it from the class)."""
    return type("AwsRequestHandler", (AwsRequestHandler,), {"timeout": timeout_s})
