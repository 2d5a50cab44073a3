"""Holes a review found in the `--auth` gate, each crafted over a real socket against the real
endpoint process: a body spooled before its signature was checked, a SigV2 request replayable
forever, x-amz-* headers outside the signature, and non-ASCII signature fields answered 500."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import HmacV1Auth, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.testing.process import ServeProcess

pytestmark = pytest.mark.docker
KEYS = ("AKIDHOLES", "holes-secret")
GIB = 1 << 30
JSON_HEADERS = {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                "Content-Type": "application/x-amz-json-1.1"}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    # A short read timeout: a gate still waiting for a body answers RequestTimeout quickly.
    env = {**os.environ, "SMEMU_REQUEST_TIMEOUT": "2", "SMEMU_AUTH": ":".join(KEYS)}
    with ServeProcess(tmp_path_factory.mktemp("auth-holes"), ["--ephemeral"],
                      env=env) as process:
        yield process


def _address(endpoint: ServeProcess) -> tuple[str, int]:
    host, port = endpoint.url.rpartition("/")[2].split(":")
    return host, int(port)


def _exchange(endpoint: ServeProcess, head: str, body: bytes = b"") -> tuple[int, str]:
    """Send a raw request (its head as latin-1, so any byte can be in a header); the answer's
    status and body."""
    with socket.create_connection(_address(endpoint), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read().decode(errors="replace")


def _signed(endpoint: ServeProcess, method: str, path: str, headers: dict[str, str],
            body: bytes, service: str) -> dict[str, str]:
    host, port = _address(endpoint)
    request = AWSRequest(method=method, url=f"{endpoint.url}{path}", data=body,
                         headers={"Host": f"{host}:{port}", **headers})
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(*KEYS), service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _head(method: str, path: str, headers: dict[str, str]) -> str:
    return f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _bogus_authorization(service: str, signed_headers: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential={KEYS[0]}/{_stamp()[:8]}/us-east-1/{service}/"
            f"aws4_request, SignedHeaders={signed_headers}, Signature={'0' * 64}")


def test_a_wrongly_signed_upload_is_refused_before_its_body_is_read(
        endpoint: ServeProcess) -> None:
    # 1 GiB declared, nothing sent: a gate that reads (and spools to disk) the body before
    # checking the signature waits for it and answers RequestTimeout; the signature is wrong
    # whatever the body, so the answer must come at once.
    host, port = _address(endpoint)
    status, text = _exchange(endpoint, _head("PUT", "/some-bucket/big", {
        "Host": f"{host}:{port}", "X-Amz-Date": _stamp(),
        "X-Amz-Content-SHA256": "a" * 64, "Content-Length": str(GIB),
        "Authorization": _bogus_authorization("s3", "host;x-amz-content-sha256;x-amz-date")}))
    assert (status, "<Code>SignatureDoesNotMatch</Code>" in text) == (403, True), text


def test_a_body_the_signature_hashes_is_read_only_up_to_a_limit(
        endpoint: ServeProcess) -> None:
    # SageMaker's JSON sends no hash header: the gate must hash the body to check the
    # signature, but need not read 1 GiB of it first.
    host, port = _address(endpoint)
    status, text = _exchange(endpoint, _head("POST", "/", {
        "Host": f"{host}:{port}", "X-Amz-Date": _stamp(), **JSON_HEADERS,
        "Content-Length": str(GIB),
        "Authorization": _bogus_authorization("sagemaker", "host;x-amz-date;x-amz-target")}))
    assert status == 413 and json.loads(text)["__type"] == "ValidationException", text


def test_a_sigv2_request_with_an_old_x_amz_date_is_refused_as_skewed(
        endpoint: ServeProcess) -> None:
    # With X-Amz-Date sent, SigV2 signs it instead of Date: it must be the time checked, or a
    # captured request can be replayed for ever.
    host, port = _address(endpoint)
    request = AWSRequest(method="GET", url=f"{endpoint.url}/", headers={
        "Host": f"{host}:{port}", "x-amz-date": email.utils.formatdate(time.time() - 3600,
                                                                       usegmt=True)})
    HmacV1Auth(Credentials(*KEYS)).add_auth(request)
    status, text = _exchange(endpoint, _head("GET", "/", dict(request.headers.items())))
    assert (status, "<Code>RequestTimeTooSkewed</Code>" in text) == (403, True), text


def test_x_amz_headers_outside_the_signature_are_refused(endpoint: ServeProcess) -> None:
    # Signed without X-Amz-Target, a captured request could be re-aimed at another operation.
    body = b'{"TrainingJobName": "nope"}'
    headers = _signed(endpoint, "POST", "/", {"Content-Type": JSON_HEADERS["Content-Type"]},
                      body, "sagemaker")
    assert "x-amz-target" not in headers["Authorization"]
    status, text = _exchange(endpoint, _head("POST", "/", {
        **headers, "X-Amz-Target": "SageMaker.DescribeTrainingJob",
        "Content-Length": str(len(body))}), body)
    assert (status, json.loads(text)["__type"]) == (400, "InvalidSignatureException"), text
    assert "x-amz-target" in json.loads(text)["message"]
    # S3: an unsigned x-amz-copy-source would turn a signed PUT into a copy of another object.
    headers = _signed(endpoint, "PUT", "/some-bucket/k",
                      {"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()}, b"", "s3")
    status, text = _exchange(endpoint, _head("PUT", "/some-bucket/k", {
        **headers, "X-Amz-Copy-Source": "/other-bucket/secret", "Content-Length": "0"}))
    assert (status, "<Code>AccessDenied</Code>" in text) == (403, True), text
    assert "not signed" in text


NON_ASCII = {
    "sigv4 access key": "AWS4-HMAC-SHA256 Credential=AKID\xe9/{date}/us-east-1/{service}/"
                        "aws4_request, SignedHeaders=host;x-amz-date, Signature=ab",
    "sigv4 signature": f"AWS4-HMAC-SHA256 Credential={KEYS[0]}/{{date}}/us-east-1/{{service}}/"
                       "aws4_request, SignedHeaders=host;x-amz-date, Signature=\xe9\xe9",
    "sigv2 access key": "AWS AKID\xe9:sig",
    "sigv2 signature": f"AWS {KEYS[0]}:\xe9",
}


@pytest.mark.parametrize("field", sorted(NON_ASCII))
@pytest.mark.parametrize("service", ["s3", "sagemaker"])
def test_non_ascii_signature_fields_are_refused_not_a_500(endpoint: ServeProcess, field: str,
                                                         service: str) -> None:
    host, port = _address(endpoint)
    authorization = NON_ASCII[field].format(date=_stamp()[:8], service=service)
    extra = ({"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"} if service == "s3"
             else {**JSON_HEADERS, "Content-Length": "2"})
    status, text = _exchange(endpoint, _head("POST" if service != "s3" else "GET",
                                             "/some-bucket" if service == "s3" else "/", {
        "Host": f"{host}:{port}", "X-Amz-Date": _stamp(), **extra,
        "Authorization": authorization}), b"{}" if service != "s3" else b"")
    assert 400 <= status < 500, text


@pytest.mark.parametrize("query", [
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key}%2F{date}%2Fus-east-1%2Fs3%2F"
    "aws4_request&X-Amz-Date={stamp}&X-Amz-SignedHeaders=host&X-Amz-Signature=%C3%A9",
    "AWSAccessKeyId={key}&Expires=9999999999&Signature=%C3%A9",
    "AWSAccessKeyId=%C3%A9&Expires=9999999999&Signature=abc",
    # "²" passes str.isdigit() but not int()
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key}%2F{date}%2Fus-east-1%2Fs3%2F"
    "aws4_request&X-Amz-Date={stamp}&X-Amz-Expires=%C2%B2&X-Amz-SignedHeaders=host&"
    "X-Amz-Signature=ab",
    "AWSAccessKeyId={key}&Expires=%C2%B2&Signature=abc",
])
def test_non_ascii_presigned_signatures_are_refused_not_a_500(endpoint: ServeProcess,
                                                              query: str) -> None:
    host, port = _address(endpoint)
    stamp = _stamp()
    path = "/some-bucket/k?" + query.format(key=KEYS[0], date=stamp[:8], stamp=stamp)
    status, text = _exchange(endpoint, _head("GET", path, {"Host": f"{host}:{port}"}))
    assert 400 <= status < 500, text


def _link(fd: Path) -> str:
    """Where a /proc fd points; "" for one the process closed while we listed them."""
    try:
        return os.readlink(fd)
    except FileNotFoundError:
        return ""


def _gateway_socket(endpoint: ServeProcess) -> str:
    """The endpoint's unix socket for the S3 gateway: the listening one its process holds."""
    assert endpoint.process is not None
    fds = Path(f"/proc/{endpoint.process.pid}/fd")
    inodes = {target[8:-1] for target in map(_link, fds.iterdir())
              if target.startswith("socket:[")}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[6] in inodes and fields[7].endswith("/endpoint.sock"):
            return fields[7]
    raise AssertionError("the endpoint holds no gateway socket")


class _GatewayConnection(http.client.HTTPConnection):
    """HTTP over the gateway's unix socket, after the PROXY line its forwarder sends."""

    def __init__(self, path: str, host: str) -> None:
        super().__init__(host, timeout=30)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(30)
        sock.connect(self.path)
        sock.sendall(b"PROXY TCP4 172.30.0.5 172.30.0.1 40000 4590\r\n")
        self.sock = sock


@pytest.mark.parametrize("via", ["tcp", "gateway socket"])
def test_each_request_on_a_kept_alive_connection_is_checked(endpoint: ServeProcess,
                                                            via: str) -> None:
    host, port = _address(endpoint)
    connection = (http.client.HTTPConnection(host, port, timeout=30) if via == "tcp"
                  else _GatewayConnection(_gateway_socket(endpoint), f"{host}:{port}"))
    try:
        connection.request("POST", "/", body=b"{}", headers=_signed(
            endpoint, "POST", "/", JSON_HEADERS, b"{}", "sagemaker"))
        first = connection.getresponse()
        assert first.status == 200, first.read()
        first.read()
        kept = connection.sock
        assert kept is not None and first.getheader("Connection", "").lower() != "close"
        connection.request("POST", "/", body=b"{}",
                           headers={"Host": f"{host}:{port}", **JSON_HEADERS})
        second = connection.getresponse()
        text = second.read().decode()
        assert connection.sock is kept  # the same connection, not a new one
    finally:
        connection.close()
    assert (second.status, json.loads(text)["__type"]) == (
        400, "MissingAuthenticationTokenException"), text
