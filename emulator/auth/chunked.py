"""The chunk signatures of an aws-chunked upload signed chunk by chunk
(STREAMING-AWS4-HMAC-SHA256-PAYLOAD, and its -TRAILER form with a signed trailer).

botocore never sends these (it streams unsigned, STREAMING-UNSIGNED-PAYLOAD-TRAILER), but the
Java, Go and JavaScript SDKs do. Each chunk is `hex-size;chunk-signature=SIG\\r\\nDATA\\r\\n`;
SIG chains from the request's own signature (the seed) over the chunk's SHA-256; the trailer's
signature chains from the last chunk's over its header lines.
"""

from __future__ import annotations

import hmac
from hashlib import sha256
from typing import IO

from emulator.auth.sigv4 import MISMATCH, AuthFailure, Claim, equal_secrets

_EMPTY_SHA256 = sha256(b"").hexdigest()
_MAX_LINE = 8192
_PIECE = 1 << 16


def verify_chunk_signatures(body: IO[bytes], claim: Claim, key: bytes, trailer: bool) -> None:
    """Read `body` (aws-chunked) to its end; AuthFailure(MISMATCH) at the first bad signature
    or a framing that does not parse."""
    previous = claim.signature.lower()
    while True:
        size, signature = _chunk_header(body)
        digest = sha256()
        left = size
        while left:
            piece = body.read(min(left, _PIECE))
            if not piece:
                raise AuthFailure(MISMATCH, "the aws-chunked body ends inside a chunk")
            digest.update(piece)
            left -= len(piece)
        expected = _sign(key, "AWS4-HMAC-SHA256-PAYLOAD", claim, previous,
                         f"{_EMPTY_SHA256}\n{digest.hexdigest()}")
        if not equal_secrets(expected, signature):
            raise AuthFailure(MISMATCH, "a chunk's signature does not match its data")
        previous = expected
        if size == 0:
            break
        if body.read(2) != b"\r\n":
            raise AuthFailure(MISMATCH, "a chunk does not end with CRLF")
    if trailer:
        _verify_trailer(body, claim, key, previous)


def _chunk_header(body: IO[bytes]) -> tuple[int, str]:
    line = body.readline(_MAX_LINE)
    if not line.endswith(b"\r\n"):
        raise AuthFailure(MISMATCH, "an aws-chunked chunk header does not parse")
    size_text, _, extension = line[:-2].decode("latin-1").partition(";")
    name, _, signature = extension.partition("=")
    try:
        size = int(size_text, 16)
    except ValueError:
        raise AuthFailure(MISMATCH, "an aws-chunked chunk size does not parse") from None
    if name.strip() != "chunk-signature" or not signature:
        raise AuthFailure(MISMATCH, "an aws-chunked chunk carries no chunk-signature")
    return size, signature.strip().lower()


def _verify_trailer(body: IO[bytes], claim: Claim, key: bytes, previous: str) -> None:
    canonical, signature = "", ""
    while True:
        line = body.readline(_MAX_LINE)
        text = line.decode("latin-1").strip()
        if not text:
            break
        name, _, value = text.partition(":")
        if name.strip().lower() == "x-amz-trailer-signature":
            signature = value.strip().lower()
        else:
            canonical += f"{name.strip().lower()}:{value.strip()}\n"
    expected = _sign(key, "AWS4-HMAC-SHA256-TRAILER", claim, previous,
                     sha256(canonical.encode()).hexdigest())
    if not equal_secrets(expected, signature):
        raise AuthFailure(MISMATCH, "the trailer's signature does not match it")


def _sign(key: bytes, algorithm: str, claim: Claim, previous: str, tail: str) -> str:
    text = "\n".join([algorithm, claim.timestamp, claim.scope, previous, tail])
    return hmac.new(key, text.encode(), sha256).hexdigest()
