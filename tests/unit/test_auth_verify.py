"""SigV4 verification against botocore-signed requests: the clock window, and the chunk
signatures of aws-chunked uploads (which botocore never sends, so they are built here from
AWS's documented chain); and the key sources."""

from __future__ import annotations

import hmac
import io
from hashlib import sha256
from pathlib import Path

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.auth import sigv4 as S
from emulator.auth.chunked import verify_chunk_signatures
from emulator.auth.keys import AuthConfigError, AuthKeys, read_credentials_file, resolve_keys

KEYS = AuthKeys("AKID", "secret")


def signed_s3_put(content_sha256: str) -> tuple[S.Received, S.Claim]:
    request = AWSRequest("PUT", "http://127.0.0.1:4590/bkt/key", data=b"",
                         headers={"X-Amz-Content-SHA256": content_sha256})
    S3SigV4Auth(Credentials("AKID", "secret"), "s3", "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:4590"
    received = S.Received("PUT", "/bkt/key", "", headers)
    return received, S.verify(received, KEYS)


def test_a_request_outside_the_15_minute_window_is_skewed() -> None:
    received, claim = signed_s3_put(S.STREAMING_SIGNED)
    signed_at = S.amz_date_epoch(claim.timestamp)
    S.verify(received, KEYS, now=signed_at + 14 * 60)
    for now in (signed_at + 16 * 60, signed_at - 16 * 60):
        with pytest.raises(S.AuthFailure) as caught:
            S.verify(received, KEYS, now=now)
        assert caught.value.kind == S.SKEWED


def chunked_body(claim: S.Claim, chunks: list[bytes], trailer: str | None = None,
                 secret: str = "secret") -> bytes:
    """An aws-chunked body signed chunk by chunk, from AWS's documented signature chain."""
    key = S.signing_key(claim, secret)
    previous, out = claim.signature, b""
    empty = sha256(b"").hexdigest()
    for data in [*chunks, b""]:
        text = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", claim.timestamp, claim.scope, previous,
                          empty, sha256(data).hexdigest()])
        previous = hmac.new(key, text.encode(), sha256).hexdigest()
        out += f"{len(data):x};chunk-signature={previous}\r\n".encode() + data
        out += b"\r\n" if data else b""
    if trailer is None:
        return out + b"\r\n"
    text = "\n".join(["AWS4-HMAC-SHA256-TRAILER", claim.timestamp, claim.scope, previous,
                      sha256(f"{trailer}\n".encode()).hexdigest()])
    signature = hmac.new(key, text.encode(), sha256).hexdigest()
    return out + f"{trailer}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode()


@pytest.mark.parametrize("trailer", [None, "x-amz-checksum-crc32:AAAAAA=="])
def test_signed_chunks_verify_and_a_changed_byte_does_not(trailer: str | None) -> None:
    _, claim = signed_s3_put(S.STREAMING_SIGNED_TRAILER if trailer else S.STREAMING_SIGNED)
    body = chunked_body(claim, [b"a" * 70000, b"tail"], trailer)
    key = S.signing_key(claim, "secret")
    verify_chunk_signatures(io.BytesIO(body), claim, key, trailer=trailer is not None)
    for tampered in (body.replace(b"tail", b"tall"), body.replace(b"a", b"b", 1)):
        with pytest.raises(S.AuthFailure):
            verify_chunk_signatures(io.BytesIO(tampered), claim, key,
                                    trailer=trailer is not None)
    if trailer:
        with pytest.raises(S.AuthFailure):
            verify_chunk_signatures(io.BytesIO(body.replace(b"AAAAAA", b"BBBBBB")), claim,
                                    key, trailer=True)


def test_keys_come_from_the_flag_the_file_or_the_environment(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = A1\naws_secret_access_key = s1\n"
                           "[ci]\naws_access_key_id = A2\naws_secret_access_key = s:2\n")
    assert resolve_keys(environ={}) is None
    assert resolve_keys("AK:se:cret", environ={"SMEMU_AUTH": "X:Y"}) == AuthKeys("AK", "se:cret")
    assert resolve_keys(environ={"SMEMU_AUTH": "X:Y"}) == AuthKeys("X", "Y")
    assert resolve_keys(environ={"SMEMU_AUTH_FILE": str(credentials)}) == AuthKeys("A1", "s1")
    assert resolve_keys(environ={"SMEMU_AUTH_FILE": str(credentials),
                                 "SMEMU_AUTH_PROFILE": "ci"}) == AuthKeys("A2", "s:2")
    assert read_credentials_file(credentials, "ci").secret_key == "s:2"
    for bad in ("no-colon", ":secret", "AK:", "A/K:secret"):
        with pytest.raises(AuthConfigError):
            resolve_keys(bad, environ={})
    with pytest.raises(AuthConfigError, match=r"no profile \[nope\]"):
        read_credentials_file(credentials, "nope")


def test_smemu_container_hands_its_keys_to_the_endpoint_by_environment(tmp_path: Path) -> None:
    from emulator.testing.container import SmemuContainer

    container = SmemuContainer(auth="AKIDC:container-secret", host_dir=tmp_path)
    container._configure()  # what start() does before it creates the container
    assert container.env["SMEMU_AUTH"] == "AKIDC:container-secret"
    assert "container-secret" not in " ".join(map(str, container._command or []))
    assert SmemuContainer(host_dir=tmp_path).keys is None
