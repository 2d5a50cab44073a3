"""WSGI middleware that refuses every request not signed (SigV4) with the endpoint's keys
(`smemu serve --auth`): SageMaker, S3, CloudWatch Logs and metrics, IAM, STS and smemu's own
/_smemu/ routes, each refusal in the protocol's own error (emulator.api.auth_errors).

Open without a signature: GET /_smemu/health only (readiness probes, `smemu doctor`, the
compose healthcheck; it tells the version and the S3 URL, nothing else). The browser view
(/_smemu/ui/) is refused: a browser cannot sign.

A body the signature covers is read before the request goes on: the JSON and query services'
(small) bodies to hash them, an S3 body whose X-Amz-Content-SHA256 is a hash or aws-chunked
with signed chunks into a spool file (memory up to 1 MiB, then disk), so that a tampered
upload is refused before S3 stores a byte. UNSIGNED-PAYLOAD and
STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies (boto3's presigned URLs and smemu's mirror) are not
read here.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from hashlib import sha256
from typing import IO, Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Response
from werkzeug.wsgi import ClosingIterator

from emulator.api.auth_errors import refusal
from emulator.api.moto_guard import WatchedInput, answer_exception
from emulator.api.wire_errors import JSON, REST_XML, WireRequest, classify
from emulator.auth import sigv4 as S
from emulator.auth.chunked import verify_chunk_signatures
from emulator.auth.keys import AuthKeys
from emulator.auth.sigv2 import is_sigv2, verify_sigv2
from emulator.report.html_views import UI_PREFIX

log = logging.getLogger(__name__)
WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
OPEN_PATHS = ("/_smemu/health",)
_EXTENSION_PREFIX = "/_smemu/"
_SPOOL_IN_MEMORY = 1 << 20
_DRAIN_LIMIT = 64 << 20  # a refused body up to this is read, so the client reads the answer
_PIECE = 1 << 16
# A body hashed here before its signature can be checked (the JSON and query services, which
# send no X-Amz-Content-SHA256): SageMaker's own limit (emulator.api.app), the largest of them.
_UNHASHED_BODY_LIMIT = 8 << 20


class AuthGate:
    def __init__(self, app: WsgiApp, keys: AuthKeys,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.keys = keys
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path in OPEN_PATHS and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return self.app(environ, start_response)
        if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
            return _browser_refused()(environ, start_response)
        watched = WatchedInput(environ.get("wsgi.input"))
        environ = {**environ, "wsgi.input": watched}
        spooled: list[IO[bytes]] = []  # the body, when it had to be read to check it
        try:
            self._check(environ, spooled)
        except S.AuthFailure as failure:
            if spooled:
                spooled[0].close()
            else:
                _drain(environ)
            log.info("refused %s %s: %s", environ.get("REQUEST_METHOD"), path, failure)
            return refusal(_wire_request(environ), failure, self.clock())(environ,
                                                                           start_response)
        except Exception as err:  # a body that stalls or ends short while it is read
            for spool in spooled:
                spool.close()
            cause = TimeoutError("reading the body timed out") if watched.timed_out else err
            return answer_exception(_wire_request(environ), cause, environ)(environ,
                                                                          start_response)
        if not spooled:
            return self.app(environ, start_response)
        answer = self.app(_with_spool(environ, spooled[0]), start_response)
        return ClosingIterator(answer, [spooled[0].close])

    def _check(self, environ: dict[str, Any], spooled: list[IO[bytes]]) -> None:
        """Nothing when the request is signed with the keys; AuthFailure otherwise. A body the
        signature covers is read into a spool, appended to `spooled` (at its start)."""
        received = received_of(environ)
        if is_sigv2(received) and _wire_request(environ).protocol == REST_XML:
            verify_sigv2(received, self.keys, self.clock())
            return
        claim = S.claim_of(received)
        now = self.clock()
        sent_hash = received.headers.get(S.CONTENT_SHA256, "").strip()
        if not _covers_body(claim, sent_hash):
            S.verify(received, self.keys, None, now)
            return
        if sent_hash:
            # The signature covers the hash sent, not the body: checked before a byte of the
            # body is read, so an unsigned client cannot make the gate spool gigabytes.
            S.verify(received, self.keys, None, now)
            spool, body_sha256 = _spool(environ)
            spooled.append(spool)
            if _is_hex_hash(sent_hash) and sent_hash.lower() != body_sha256:
                raise S.AuthFailure(S.PAYLOAD)
            if sent_hash in (S.STREAMING_SIGNED, S.STREAMING_SIGNED_TRAILER):
                verify_chunk_signatures(spool, claim, S.signing_key(claim, self.keys.secret_key),
                                        trailer=sent_hash == S.STREAMING_SIGNED_TRAILER)
                spool.seek(0)
            return
        # The signature covers the body's own hash: it is read first, but only so much.
        S.check_claim(received, claim, self.keys, now)
        spool, body_sha256 = _spool(environ, _UNHASHED_BODY_LIMIT)
        spooled.append(spool)
        S.verify(received, self.keys, body_sha256, now)


def received_of(environ: dict[str, Any]) -> S.Received:
    """The request as sent: path and query before any decoding, headers by lower-case name."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    if raw.startswith(("http://", "https://")):  # absolute-form request target
        parts = urlsplit(raw)
        raw = parts.path + (f"?{parts.query}" if parts.query else "")
    if raw:
        raw_path, _, raw_query = raw.partition("?")
    else:
        raw_path, raw_query = str(environ.get("PATH_INFO", "/")), str(
            environ.get("QUERY_STRING", ""))
    headers: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers[name[5:].replace("_", "-").lower()] = str(value)
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = str(environ[name])
    return S.Received(str(environ.get("REQUEST_METHOD", "GET")), raw_path or "/", raw_query,
                      headers)


def _covers_body(claim: S.Claim, sent_hash: str) -> bool:
    if not sent_hash:
        return claim.service != "s3"  # hashed by the service, from the body
    return _is_hex_hash(sent_hash) or sent_hash in (S.STREAMING_SIGNED,
                                                   S.STREAMING_SIGNED_TRAILER)


def _is_hex_hash(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def _spool(environ: dict[str, Any], limit: int | None = None) -> tuple[IO[bytes], str]:
    """The whole body in a spool file (at its start) and its SHA-256; AuthFailure(TOO_LARGE)
    when it is over `limit` bytes."""
    if limit is not None and _declared_length(environ) > limit:
        raise S.AuthFailure(S.TOO_LARGE, str(limit))
    # Closed by the caller (after the response, or at once on a refusal).
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=_SPOOL_IN_MEMORY, prefix="smemu-body-")
    digest = sha256()
    try:
        for piece in _body_pieces(environ):
            digest.update(piece)
            spool.write(piece)
            if limit is not None and spool.tell() > limit:  # chunked: no length declared
                raise S.AuthFailure(S.TOO_LARGE, str(limit))
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, digest.hexdigest()


def _body_pieces(environ: dict[str, Any], limit: int | None = None) -> Iterable[bytes]:
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    left = _declared_length(environ)
    chunked = str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower() == "chunked"
    if not left and not chunked:
        return
    read = 0
    while chunked or left > 0:
        piece = stream.read(_PIECE if chunked else min(_PIECE, left))
        if not piece:
            return
        left -= len(piece)
        read += len(piece)
        yield bytes(piece)
        if limit is not None and read >= limit:
            return


def _declared_length(environ: dict[str, Any]) -> int:
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _drain(environ: dict[str, Any]) -> None:
    """Read and drop a refused request's body (up to a limit): a client still sending it would
    otherwise not read the answer. A body declared longer is not read at all, and the
    connection is closed after the answer (emulator.server.keepalive)."""
    if _declared_length(environ) > _DRAIN_LIMIT:
        return
    try:
        for _ in _body_pieces(environ, _DRAIN_LIMIT):
            pass
    except OSError:
        pass


def _with_spool(environ: dict[str, Any], spool: IO[bytes]) -> dict[str, Any]:
    out = dict(environ)
    out["wsgi.input"] = spool
    size = spool.seek(0, 2)
    spool.seek(0)
    out["CONTENT_LENGTH"] = str(size)
    if str(out.get("HTTP_TRANSFER_ENCODING", "")).lower() == "chunked":
        out.pop("HTTP_TRANSFER_ENCODING")  # de-chunked already; the length is known now
        out["wsgi.input_terminated"] = False
    return out


def _wire_request(environ: dict[str, Any]) -> WireRequest:
    if str(environ.get("PATH_INFO", "")).startswith(_EXTENSION_PREFIX):
        return WireRequest(JSON, "smemu", "", "application/json")
    return classify(environ)


def _browser_refused() -> Response:
    return Response(
        "<!doctype html><title>smemu: browser view off</title><h1>403 Forbidden</h1>"
        "<p>This smemu endpoint checks request signatures (<code>smemu serve --auth</code>), "
        "and a browser cannot sign its requests, so the browser view is off. Use "
        "<code>smemu jobs</code> instead, or run the endpoint without --auth.</p>",
        status=403, content_type="text/html; charset=utf-8")
