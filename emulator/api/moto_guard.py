"""Every answer of the embedded services (moto) in AWS's format, never an HTML page.

moto raises NotImplementedError for an operation it lacks, and its Flask apps run in debug mode,
so any exception escaped to werkzeug, which answered "500 Internal Server Error" as HTML (the
SageMaker Python SDK v3 died on it calling iam:SimulatePrincipalPolicy). This middleware answers
instead, in the protocol of the request:
- an operation moto does not implement: 400 and the protocol's unknown-operation code, naming it;
- a body that does not parse, or a client that stalls or leaves mid-body: 400;
- an exception raised inside moto's own code: a request it cannot handle (KeyError on a form
  field an S3 POST lacks, an X-Amz-Target without a dot): 400, logged with its traceback;
- anything else (a bug in smemu): 500 InternalFailure (S3: InternalError), logged with
  its traceback. A 5xx moto answers on its own is rewritten the same way, and so is the HTML
  page Flask renders for a 4xx of its own (a body cut short), keeping its status.
"""

from __future__ import annotations

import html
import itertools
import logging
import os
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError

import moto
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Response

from emulator.api.logs import read_body, with_body
from emulator.api.wire_errors import (
    REQUEST_TIMEOUT_MESSAGE,
    REST_XML,
    WireRequest,
    classify,
    error_response,
    internal_code,
    is_form,
    unsupported_code,
    unsupported_input_code,
)

log = logging.getLogger(__name__)
_MOTO_DIR = os.path.dirname(moto.__file__) + os.sep
_SMEMU_DIR = os.path.dirname(os.path.dirname(__file__)) + os.sep
WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_MALFORMED_XML = ("The XML you provided was not well-formed or did not validate against our "
                  "published schema")


class MotoGuard:
    """WSGI middleware in front of the embedded services."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body: bytes | None = None
        watched = WatchedInput(environ.get("wsgi.input"))
        environ = {**environ, "wsgi.input": watched}
        try:
            if is_form(environ):  # query protocol: the operation is in the body
                body = read_body(environ)
                environ = with_body(environ, body)
            return self._call(environ, start_response, body, watched)
        except Exception as err:  # every failure gets an AWS answer
            request = classify(environ, body)
            failure = TimeoutError("reading the body timed out") if watched.timed_out else err
            return answer_exception(request, failure, environ)(environ, start_response)

    def _call(self, environ: dict[str, Any], start_response: Any,
              body: bytes | None, watched: WatchedInput) -> Iterable[bytes]:
        captured: list[tuple[str, list[tuple[str, str]], Any]] = []
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]],
                    exc_info: Any = None) -> Callable[[bytes], None]:
            captured[:] = [(status, headers, exc_info)]
            return written.append

        chunks: Iterable[bytes] = self.app(environ, capture)
        iterator: Iterator[bytes] = iter(chunks)
        if not captured:  # a lazy app starts its answer with its first chunk
            iterator = itertools.chain([next(iterator, b"")], iterator)
        status, headers, exc_info = captured[0] if captured else ("200 OK", [], None)
        code = int(status.split()[0]) if status[:3].isdigit() else 500
        is_html = any(k.lower() == "content-type" and v.lower().startswith("text/html")
                      for k, v in headers)
        if code >= 500 or (code >= 400 and is_html):
            data = b"".join(written) + b"".join(iterator)
            _close(chunks)
            request = classify(environ, body)
            if watched.timed_out:
                return error_response(request, 400, "RequestTimeout", REQUEST_TIMEOUT_MESSAGE
                                      )(environ, start_response)
            text = _html_text(data) if is_html else data[:2000].decode("utf-8", "replace")
            if code < 500:
                return error_response(request, code, _status_code_name(code),
                                      text or status)(environ, start_response)
            log.error("the embedded %s answered %s to %s: %s", request.service or "service",
                      status, request.describe(), text)
            return error_response(request, 500, internal_code(request),
                                  f"smemu internal error in {request.describe()} "
                                  f"(the embedded service answered {status})"
                                  )(environ, start_response)
        start_response(status, headers, exc_info)
        return _Closing(itertools.chain(written, iterator), chunks)


def answer_exception(request: WireRequest, err: Exception, environ: dict[str, Any]) -> Response:
    """The AWS answer (a WSGI app) to an exception raised while serving `request`."""
    if isinstance(err, NotImplementedError):
        if not request.operation and request.protocol == REST_XML:
            request = _with_rest_operation(request, environ)
        return error_response(request, 400, unsupported_code(request),
                              f"{request.describe()[0].upper()}{request.describe()[1:]} is not "
                              f"implemented by smemu's embedded services ({err}).")
    if isinstance(err, TimeoutError) or (isinstance(err, ClientDisconnected)
                                         and isinstance(err.__context__, TimeoutError)):
        return error_response(request, 400, "RequestTimeout", REQUEST_TIMEOUT_MESSAGE)
    if isinstance(err, ClientDisconnected):
        return error_response(request, 400, "IncompleteBody",
                              "The request body ended before its declared Content-Length.")
    if isinstance(err, (ExpatError, ParseError)):
        code = "MalformedXML" if request.protocol == REST_XML else "MalformedInput"
        return error_response(request, 400, code, f"{_MALFORMED_XML} ({err}).")
    if _raised_in_moto(err):  # moto could not handle this input: a request it does not support
        log.warning("the embedded services could not process %s", request.describe(),
                    exc_info=err)
        return error_response(request, 400, unsupported_input_code(request),
                              f"smemu's embedded services cannot process {request.describe()} "
                              f"({type(err).__name__}: {err})."[:2000])
    log.error("internal error in %s", request.describe(), exc_info=err)
    return error_response(request, 500, internal_code(request),
                          f"smemu internal error in {request.describe()}: "
                          f"{type(err).__name__}: {err}"[:2000])


def _raised_in_moto(err: BaseException) -> bool:
    """Whether moto's code, not smemu's, is the innermost of the two the error came through
    (the standard library's json or xml raising under moto counts as moto)."""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if frame.filename.startswith(_MOTO_DIR):
            return True
        if frame.filename.startswith(_SMEMU_DIR):
            return False
    return False


def _with_rest_operation(request: WireRequest, environ: dict[str, Any]) -> WireRequest:
    """Name a REST request's operation from the service's botocore model, as moto routes it."""
    try:
        from moto.core.request import Request as MotoRequest
        from moto.core.routing import get_service_router

        operation, _ = get_service_router(request.service).match(MotoRequest(environ))
        name = str(operation.name)
    except Exception:
        name = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}".strip()
    return WireRequest(request.protocol, request.service, name, request.content_type)


def _html_text(data: bytes) -> str:
    """The words of an HTML error page, without its markup."""
    text = re.sub(r"<title>.*?</title>|<[^>]+>", " ", data.decode("utf-8", "replace"), flags=re.S)
    return " ".join(html.unescape(text).split())[:2000]


def _status_code_name(status: int) -> str:
    """'BadRequest' for 400: the error code of a 4xx no service named."""
    try:
        return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")
    except ValueError:
        return "BadRequest"


class WatchedInput:
    """The request body stream, noting whether a read timed out (a stalled client): Flask turns
    that into a generic 400 page, and the answer should say RequestTimeout."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.timed_out = False

    def _guard(self, read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except TimeoutError:
            self.timed_out = True
            raise
        except OSError as err:  # a socket read after a timeout: "cannot read from timed out"
            self.timed_out = self.timed_out or "timed out" in str(err)
            raise

    def read(self, size: int = -1) -> bytes:
        return bytes(self._guard(self.stream.read, size) if self.stream else b"")

    def readline(self, size: int = -1) -> bytes:
        return bytes(self._guard(self.stream.readline, size) if self.stream else b"")

    def readinto(self, buffer: Any) -> int:
        return int(self._guard(self.stream.readinto, buffer) if self.stream else 0)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def _close(chunks: Iterable[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


class _Closing:
    """An iterable that passes on the inner app's close() (WSGI requires it)."""

    def __init__(self, iterator: Iterator[bytes], inner: Iterable[bytes]) -> None:
        self.iterator = iterator
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        return self.iterator

    def close(self) -> None:
        _close(self.inner)
