"""CloudWatch Logs as AWS answers it, where moto's differs in ways clients see.

FilterLogEvents: moto ignores `logStreamNamePrefix` (so `aws logs filter-log-events
--log-stream-name-prefix JOB/` returned every job's lines) and, unless `interleaved` is set,
returns the events stream by stream. AWS honours the prefix and has always interleaved the
streams by time since 2019 (`interleaved` is deprecated and ignored). This middleware turns the
prefix into the stream names that match it and asks moto for interleaved events.

GetLogEvents of a stream that does not exist: moto says "The specified log group does not
exist." even when the group exists (a mistyped `<job>/algo-1-<epoch>` sent users looking for the
group); AWS says the stream does not exist.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

LOGS_TARGET = "Logs_20140328."
_FILTER = LOGS_TARGET + "FilterLogEvents"
_DESCRIBE = LOGS_TARGET + "DescribeLogStreams"
_GET = LOGS_TARGET + "GetLogEvents"
_GROUPS = LOGS_TARGET + "DescribeLogGroups"
_NO_STREAM = "The specified log stream does not exist."
_CONTENT_TYPE = "application/x-amz-json-1.1"

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class LogsCompat:
    """WSGI middleware in front of moto."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == _GET:
            return self._get_log_events(environ, start_response)
        if target != _FILTER:
            return self.app(environ, start_response)
        body = read_body(environ)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = None
        if not isinstance(params, dict):  # moto answers malformed requests itself
            return self.app(with_body(environ, body), start_response)
        prefix = params.pop("logStreamNamePrefix", None)
        if prefix is not None:
            if params.get("logStreamNames"):
                return _error(start_response, "InvalidParameterException",
                              "logStreamNames and logStreamNamePrefix cannot both be "
                              "specified.")
            names = self._stream_names(environ, params.get("logGroupName"), str(prefix))
            if names is None:  # no such group: moto gives the error AWS gives
                return self.app(with_body(environ, body), start_response)
            if not names:
                return _respond(start_response, {"events": [], "searchedLogStreams": []})
            params["logStreamNames"] = names
        params["interleaved"] = True
        return self.app(with_body(environ, json.dumps(params).encode()), start_response)

    def _get_log_events(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = read_body(environ)
        status, headers, data = self._raw(with_body(environ, body))
        if status.startswith("400") and b"ResourceNotFoundException" in data:
            try:
                group = json.loads(body).get("logGroupName")
            except (ValueError, AttributeError):
                group = None
            if isinstance(group, str) and self._group_exists(environ, group):
                return _error(start_response, "ResourceNotFoundException", _NO_STREAM)
        start_response(status, headers)
        return [data]

    def _group_exists(self, environ: dict[str, Any], group: str) -> bool:
        code, answer = self._call(environ, _GROUPS, {"logGroupNamePrefix": group})
        return code == 200 and any(g.get("logGroupName") == group
                                   for g in answer.get("logGroups", []))

    def _stream_names(self, environ: dict[str, Any], group: Any,
                      prefix: str) -> list[str] | None:
        """The group's streams whose names start with prefix; None if moto refuses."""
        names: list[str] = []
        request: dict[str, Any] = {"logGroupName": group, "logStreamNamePrefix": prefix}
        while True:
            status, answer = self._call(environ, _DESCRIBE, request)
            if status != 200:
                return None
            names += [s["logStreamName"] for s in answer.get("logStreams", [])]
            token = answer.get("nextToken")
            if not token or token == request.get("nextToken"):
                return names
            request["nextToken"] = token

    def _call(self, environ: dict[str, Any], target: str,
              params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        sub = with_body(environ, json.dumps(params).encode())
        sub["HTTP_X_AMZ_TARGET"] = target
        status, _, data = self._raw(sub)
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            answer = {}
        code = int(status.split()[0]) if status[:3].isdigit() else 500
        return code, answer if isinstance(answer, dict) else {}

    def _raw(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Moto's whole answer to one request: status line, headers, body."""
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start(line: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
            started.append((line, list(headers)))
            return lambda _data: None

        chunks = self.app(environ, start)
        try:
            data = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        line, headers = started[0] if started else ("500 Internal Server Error", [])
        return line, headers, data


def read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length > 0:
        return bytes(stream.read(length))
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return bytes(stream.read())  # the server de-chunks it and ends the stream
    return b""


def with_body(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    out = dict(environ)
    out["wsgi.input"] = io.BytesIO(body)
    out["CONTENT_LENGTH"] = str(len(body))
    return out


def _respond(start_response: Any, body: dict[str, Any], status: str = "200 OK") -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", _CONTENT_TYPE), ("Content-Length", str(len(data)))])
    return [data]


def _error(start_response: Any, code: str, message: str) -> list[bytes]:
    return _respond(start_response, {"__type": code, "message": message}, "400 Bad Request")
