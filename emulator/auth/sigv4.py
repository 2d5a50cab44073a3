"""SigV4 verification: what a received request claims (Authorization header or presigned
query), and the signature botocore's own signer computes for it with the endpoint's secret.

The canonical request is built the way AWS builds it from what arrived: the signed headers only
(and every one of them must be there), the path as sent (S3) or normalised (every other
service), the query decoded and re-encoded, minus X-Amz-Signature for a presigned URL. The
payload hash is X-Amz-Content-SHA256 when sent (S3 always sends it; a presigned URL without it
means UNSIGNED-PAYLOAD), else the body's SHA-256, which the caller computes.
"""

from __future__ import annotations

import calendar
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Any
from urllib.parse import quote, unquote

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from emulator.auth.keys import AuthKeys

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60  # AWS's window between the request's time and the server's
MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600
CONTENT_SHA256 = "x-amz-content-sha256"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"  # aws-chunked, each chunk signed
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
# Kinds of failure; the gate words each in the protocol's own error.
MISSING, MALFORMED, UNSUPPORTED, UNKNOWN_KEY, MISMATCH, SKEWED, EXPIRED, PAYLOAD = (
    "missing", "malformed", "unsupported", "unknown-key", "mismatch", "skewed", "expired",
    "payload")
NO_CONTENT_SHA256 = "no-content-sha256"  # S3: a header-signed request must send the hash
UNSIGNED_HEADER = "unsigned-header"  # an x-amz-* header outside SignedHeaders
TOO_LARGE = "too-large"  # a body that must be hashed before its signature can be checked


class AuthFailure(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Received:
    """A request as it arrived: the path and query as sent (still percent-encoded)."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lower-case names


@dataclass(frozen=True)
class Claim:
    """What the request says about its signature."""

    access_key: str
    timestamp: str  # 20260101T120000Z
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool
    expires: int | None = None  # X-Amz-Expires of a presigned URL

    @property
    def scope(self) -> str:
        return f"{self.timestamp[:8]}/{self.region}/{self.service}/aws4_request"


def is_signed(received: Received) -> bool:
    """Whether the request carries any authentication at all (header or query)."""
    return bool(received.headers.get("authorization")) or \
        "x-amz-signature=" in received.raw_query.lower() or \
        "x-amz-credential=" in received.raw_query.lower()


def claim_of(received: Received) -> Claim:
    """The signature's fields; AuthFailure when there are none or they do not parse."""
    authorization = received.headers.get("authorization", "")
    if authorization:
        return _header_claim(authorization, received)
    query = dict(_query_pairs(received.raw_query))
    if "X-Amz-Algorithm" in query or "X-Amz-Signature" in query or "X-Amz-Credential" in query:
        return _query_claim(query)
    raise AuthFailure(MISSING)


def payload_hash(received: Received, claim: Claim, body_sha256: str | None) -> str:
    """The hashed payload of the canonical request."""
    sent = received.headers.get(CONTENT_SHA256)
    if sent:
        return sent.strip()
    if claim.presigned and claim.service == "s3":
        return UNSIGNED_PAYLOAD
    if claim.service == "s3":
        raise AuthFailure(NO_CONTENT_SHA256)
    return body_sha256 if body_sha256 is not None else sha256(b"").hexdigest()


def equal_secrets(left: str, right: str) -> bool:
    """Constant-time equality of two texts of any characters (hmac.compare_digest refuses
    non-ASCII str, and a request may carry any)."""
    return hmac.compare_digest(left.encode("utf-8", "surrogatepass"),
                               right.encode("utf-8", "surrogatepass"))


def check_claim(received: Received, claim: Claim, keys: AuthKeys, now: float) -> None:
    """What can be refused before the signature is computed: an unknown key, a time outside
    the window, an x-amz-* header the signature does not cover (it could change what the
    request does: X-Amz-Target picks the operation, x-amz-copy-source the object copied)."""
    if not equal_secrets(claim.access_key, keys.access_key):
        raise AuthFailure(UNKNOWN_KEY, claim.access_key)
    _check_time(claim, now)
    unsigned = sorted(name for name in received.headers
                      if name.startswith("x-amz-") and name not in claim.signed_headers)
    if unsigned:
        raise AuthFailure(UNSIGNED_HEADER, ", ".join(unsigned))


def verify(received: Received, keys: AuthKeys, body_sha256: str | None = None,
           now: float | None = None) -> Claim:
    """The request's claim when its signature is the one `keys` give; AuthFailure otherwise."""
    claim = claim_of(received)
    check_claim(received, claim, keys, time.time() if now is None else now)
    expected = expected_signature(received, claim, keys.secret_key, body_sha256)
    if not equal_secrets(expected, claim.signature.lower()):
        raise AuthFailure(MISMATCH)
    return claim


def expected_signature(received: Received, claim: Claim, secret: str,
                       body_sha256: str | None = None) -> str:
    signer = _ReceivedRequestSigner(claim, secret, received,
                                    payload_hash(received, claim, body_sha256))
    request = AWSRequest(method=received.method, url=f"http://smemu{received.raw_path or '/'}")
    request.context["timestamp"] = claim.timestamp
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def signing_key(claim: Claim, secret: str) -> bytes:
    """The day's derived key (for the aws-chunked chunk signatures)."""
    key = f"AWS4{secret}".encode()
    for part in (claim.timestamp[:8], claim.region, claim.service, "aws4_request"):
        key = hmac.new(key, part.encode(), sha256).digest()
    return key


class _ReceivedRequestSigner(SigV4Auth):
    """botocore's signer, fed the request as received instead of one it built."""

    def __init__(self, claim: Claim, secret: str, received: Received, hashed_payload: str
                 ) -> None:
        super().__init__(Credentials(claim.access_key, secret), claim.service, claim.region)
        self._received = received
        self._claim = claim
        self._payload = hashed_payload

    def headers_to_sign(self, request: Any) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name in self._claim.signed_headers:
            value = self._received.headers.get(name)
            if value is None:
                raise AuthFailure(MISMATCH, f"the signed header {name} is not in the request")
            headers[name] = value
        return headers

    def canonical_query_string(self, request: Any) -> str:
        pairs = [(quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~"))
                 for k, v in _raw_query_pairs(self._received.raw_query)
                 if not (self._claim.presigned and unquote(k) == "X-Amz-Signature")]
        return "&".join(f"{k}={v}" for k, v in sorted(pairs))

    def payload(self, request: Any) -> str:
        return self._payload

    def _normalize_url_path(self, path: str) -> str:
        if self._claim.service == "s3":  # S3 signs the path as it is, not normalised
            return quote(unquote(path), safe="/~")
        return str(super()._normalize_url_path(path))


def _header_claim(authorization: str, received: Received) -> Claim:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthFailure(UNSUPPORTED, algorithm)
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if equals:
            fields[name.strip()] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise AuthFailure(MALFORMED, f"the Authorization header lacks {', '.join(missing)}")
    timestamp = received.headers.get("x-amz-date", "").strip()
    if not timestamp:
        raise AuthFailure(MALFORMED, "the request has no X-Amz-Date header")
    return _claim(fields["Credential"], timestamp, fields["SignedHeaders"],
                  fields["Signature"], presigned=False)


def _query_claim(query: Mapping[str, str]) -> Claim:
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise AuthFailure(UNSUPPORTED, query.get("X-Amz-Algorithm", ""))
    missing = [n for n in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
                           "X-Amz-Signature") if not query.get(n)]
    if missing:
        raise AuthFailure(MALFORMED, f"the query lacks {', '.join(missing)}")
    expires_text = query.get("X-Amz-Expires", str(MAX_PRESIGN_EXPIRES_S))
    if not (expires_text.isascii() and expires_text.isdigit()) \
            or not 0 < int(expires_text) <= MAX_PRESIGN_EXPIRES_S:
        raise AuthFailure(MALFORMED, "X-Amz-Expires must be a number of seconds from 1 to "
                                     f"{MAX_PRESIGN_EXPIRES_S}")
    return _claim(query["X-Amz-Credential"], query["X-Amz-Date"], query["X-Amz-SignedHeaders"],
                  query["X-Amz-Signature"], presigned=True, expires=int(expires_text))


def _claim(credential: str, timestamp: str, signed_headers: str, signature: str,
           presigned: bool, expires: int | None = None) -> Claim:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise AuthFailure(MALFORMED, f"the credential {credential!r} is not "
                                     "ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")
    if len(timestamp) != 16 or timestamp[8] != "T" or not timestamp.endswith("Z"):
        raise AuthFailure(MALFORMED, f"the date {timestamp!r} is not like 20260101T120000Z")
    if parts[1] != timestamp[:8]:
        raise AuthFailure(MALFORMED, f"the credential's date {parts[1]} is not the "
                                     f"request's date {timestamp[:8]}")
    names = tuple(n.strip().lower() for n in signed_headers.split(";") if n.strip())
    if "host" not in names:
        raise AuthFailure(MALFORMED, "the signed headers must include host")
    return Claim(parts[0], timestamp, parts[2], parts[3], names, signature.strip(),
                 presigned, expires)


def _check_time(claim: Claim, now: float) -> None:
    try:
        signed_at = amz_date_epoch(claim.timestamp)
    except ValueError:
        raise AuthFailure(MALFORMED, f"the date {claim.timestamp!r} is not a date") from None
    if claim.presigned:
        if now > signed_at + (claim.expires or 0):
            raise AuthFailure(EXPIRED, claim.timestamp)
        if signed_at > now + MAX_SKEW_S:
            raise AuthFailure(SKEWED, claim.timestamp)
    elif abs(now - signed_at) > MAX_SKEW_S:
        raise AuthFailure(SKEWED, claim.timestamp)


def amz_date_epoch(timestamp: str) -> float:
    """Seconds since the epoch of an X-Amz-Date (20261201T120000Z)."""
    return float(calendar.timegm(time.strptime(timestamp, "%Y%m%dT%H%M%SZ")))


def _raw_query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw_query.split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((key, value))
    return pairs


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    return [(unquote(k), unquote(v)) for k, v in _raw_query_pairs(raw_query)]
