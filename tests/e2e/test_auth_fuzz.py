"""With `--auth` on, no request, however broken its signature, gets a 5xx: a bounded fuzz of
Authorization headers and presigned queries over real sockets, and signed bodies that stall
or end short while the gate reads them."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.testing.process import ServeProcess

pytestmark = pytest.mark.docker
KEYS = ("AKIDFUZZ", "fuzz-secret")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
SHAPES = {  # (method, path, headers, body) of each wire protocol
    "sagemaker": ("POST", "/", {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                "Content-Type": "application/x-amz-json-1.1"}, b"{}"),
    "logs": ("POST", "/", {"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                           "Content-Type": "application/x-amz-json-1.1"}, b"{}"),
    "iam": ("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=ListRoles&Version=2010-05-08"),
    "s3": ("GET", "/some-bucket/key", {}, b""),
}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = {**os.environ, "SMEMU_REQUEST_TIMEOUT": "2", "SMEMU_AUTH": ":".join(KEYS)}
    with ServeProcess(tmp_path_factory.mktemp("auth-fuzz"), ["--ephemeral"],
                      env=env) as process:
        yield process


def _send(url: str, method: str, path: str, headers: dict[str, str],
          body: bytes) -> tuple[int, bytes]:
    host, port = url.rpartition("/")[2].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_credential = st.one_of(
    _text, st.builds(lambda k, d, r, s, t: f"{k}/{d}/{r}/{s}/{t}",
                     st.sampled_from([KEYS[0], "OTHER", ""]),
                     st.sampled_from(["20260101", "2026", "", "99999999"]), _text,
                     st.sampled_from(["s3", "sagemaker", "iam", "logs", ""]),
                     st.sampled_from(["aws4_request", "x"])))
_authorization = st.one_of(
    _text,
    st.builds(lambda a, c, h, s: f"{a} Credential={c}, SignedHeaders={h}, Signature={s}",
              st.sampled_from(["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", "AWS"]), _credential,
              st.sampled_from(["host", "host;x-amz-date", "", "content-type;host;nope"]),
              st.one_of(_text, st.just("0" * 64))),
    st.builds(lambda k, s: f"AWS {k}:{s}", st.sampled_from([KEYS[0], "X", ""]), _text))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(shape=st.sampled_from(sorted(SHAPES)), authorization=_authorization,
       date=st.sampled_from(["20260101T000000Z", "garbage", "", "99991301T250000Z"]),
       presign=st.booleans(), query_credential=_credential)
def test_broken_signatures_are_refused_never_5xx(endpoint: ServeProcess, shape: str,
                                                 authorization: str, date: str,
                                                 presign: bool, query_credential: str) -> None:
    method, path, headers, body = SHAPES[shape]
    headers = dict(headers)
    if presign:
        path += ("?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                 f"{quote(query_credential, safe='')}&X-Amz-Date={quote(date)}"
                 "&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
    else:
        headers.update({"Authorization": authorization, "X-Amz-Date": date,
                        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    status, answer = _send(endpoint.url, method, path, headers, body)
    assert 400 <= status < 500, (status, answer[:300])
    assert b"<Code>" in answer or b'"__type"' in answer, answer[:300]


def _signed_head(url: str, shape: str, declared: int) -> bytes:
    """The head of a correctly signed request whose body claims `declared` bytes."""
    method, path, headers, _ = SHAPES[shape]
    if shape == "s3":
        method = "PUT"
    host = url.rpartition("/")[2]
    body = b"x" * declared
    request = AWSRequest(method, f"{url}{path}", data=body, headers={**headers, "Host": host})
    signer = S3SigV4Auth if shape == "s3" else SigV4Auth
    signer(Credentials(*KEYS), shape, "us-east-1").add_auth(request)
    lines = [f"{method} {path} HTTP/1.1", f"Content-Length: {declared}",
             *(f"{k}: {v}" for k, v in request.headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_signed_body_that_stalls_or_ends_short_is_a_4xx(endpoint: ServeProcess,
                                                          shape: str) -> None:
    for close_early in (False, True):
        host, port = endpoint.url.rpartition("/")[2].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.settimeout(30)
        sock.sendall(_signed_head(endpoint.url, shape, 1000) + b"x" * 10)
        if close_early:
            sock.shutdown(socket.SHUT_WR)  # the rest never comes
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        status = int(answer.split(b" ", 2)[1]) if answer else 0
        assert 400 <= status < 500, answer[:300]
        assert b"<Code>" in answer or b'"__type"' in answer, answer[:300]
        if not close_early:  # a short body is IncompleteBody, or its hash does not match
            assert b"RequestTimeout" in answer, answer[:300]
