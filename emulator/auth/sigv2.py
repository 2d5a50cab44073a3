"""S3's older signature (SigV2, HMAC-SHA1), checked with botocore's own signer: boto3 still
presigns S3 URLs with it by default when given an endpoint URL
(`?AWSAccessKeyId=...&Signature=...&Expires=...`), and `Authorization: AWS AK:SIG` is what its
`signature_version="s3"` sends. S3 only; every other service is SigV4.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

from botocore.auth import HmacV1Auth
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials

from emulator.auth.keys import AuthKeys
from emulator.auth.sigv4 import (
    EXPIRED,
    MALFORMED,
    MAX_SKEW_S,
    MISMATCH,
    SKEWED,
    UNKNOWN_KEY,
    AuthFailure,
    Received,
    amz_date_epoch,
    equal_secrets,
)


def is_sigv2(received: Received) -> bool:
    if received.headers.get("authorization", "").startswith("AWS "):
        return True
    query = received.raw_query
    return "AWSAccessKeyId=" in query and "Signature=" in query


def verify_sigv2(received: Received, keys: AuthKeys, now: float) -> None:
    """Nothing when the SigV2 signature is the one `keys` give; AuthFailure otherwise."""
    authorization = received.headers.get("authorization", "")
    if authorization.startswith("AWS "):
        access_key, _, signature = authorization[4:].strip().rpartition(":")
        date = received.headers.get("date", "")
        # With X-Amz-Date sent, that is the time signed (Date is left out of the signature).
        _check_date(received.headers.get("x-amz-date") or date, now)
        expires = None
    else:
        fields = {unquote(k): unquote(v) for k, _, v in
                  (item.partition("=") for item in received.raw_query.split("&"))}
        access_key, signature = fields.get("AWSAccessKeyId", ""), fields.get("Signature", "")
        expires = fields.get("Expires", "")
        if not (expires.isascii() and expires.isdigit()):
            raise AuthFailure(MALFORMED, "Expires must be a time in seconds since the epoch")
        if now > int(expires):
            raise AuthFailure(EXPIRED, expires)
        date = expires
    if not equal_secrets(access_key, keys.access_key):
        raise AuthFailure(UNKNOWN_KEY, access_key)
    signer = _ReceivedRequestSigner(Credentials(keys.access_key, keys.secret_key), date)
    headers = HTTPHeaders()
    for name, value in received.headers.items():
        if name != "authorization":
            headers[name] = value
    split = urlsplit(f"http://smemu{received.raw_path}?{_without_auth(received.raw_query)}")
    expected = signer.get_signature(received.method, split, headers)
    if not equal_secrets(str(expected), signature):
        raise AuthFailure(MISMATCH)


class _ReceivedRequestSigner(HmacV1Auth):
    """botocore's SigV1/V2 signer with the request's own Date (or Expires)."""

    def __init__(self, credentials: Credentials, date: str) -> None:
        super().__init__(credentials)
        self._date = date

    def _get_date(self) -> str:
        return self._date


def _without_auth(raw_query: str) -> str:
    drop = ("AWSAccessKeyId", "Signature", "Expires")
    return "&".join(item for item in raw_query.split("&")
                    if item and unquote(item.partition("=")[0]) not in drop)


def _check_date(date: str, now: float) -> None:
    try:
        signed_at = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        try:  # X-Amz-Date may also be in SigV4's form
            signed_at = amz_date_epoch(date)
        except ValueError:
            raise AuthFailure(MALFORMED, f"the request's date {date!r} is not a date") from None
    if abs(now - signed_at) > MAX_SKEW_S:
        raise AuthFailure(SKEWED, date)
