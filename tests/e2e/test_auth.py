"""`smemu serve --auth`: every request's SigV4 signature checked, over HTTP, with real boto3
and the real endpoint process; each refusal in the service's own AWS error, never a 5xx."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
import requests
from botocore.config import Config

from emulator.testing import Endpoint
from emulator.testing.readiness import EndpointStartError
from tests.support import figures

ACCESS_KEY, SECRET = "AKIDSMEMUTEST", "the-secret/with+odd=chars"
AWS = str(Path(sys.executable).parent / "aws")
TALLY = figures.Tally("auth")  # the README's Reliability figure


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with Endpoint(auth=f"{ACCESS_KEY}:{SECRET}", ephemeral=True,
                  state_dir=tmp_path_factory.mktemp("auth")) as started:
        yield started


def client(endpoint: Endpoint, service: str, access_key: str = ACCESS_KEY,
           secret: str = SECRET, **config: Any) -> Any:
    return boto3.client(service, endpoint_url=endpoint.url, region_name="us-east-1",
                        aws_access_key_id=access_key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1},
                                      s3={"addressing_style": "path"}, **config))


def unsigned(endpoint: Endpoint, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint.url, region_name="us-east-1",
                        config=Config(signature_version=botocore.UNSIGNED,
                                      retries={"max_attempts": 1}))


CALLS: dict[str, Callable[[Any], Any]] = {
    "sagemaker": lambda c: c.list_training_jobs(MaxResults=5),
    "s3": lambda c: c.list_buckets(),
    "logs": lambda c: c.describe_log_groups(limit=5),
    "iam": lambda c: c.list_roles(MaxItems=5),
    "cloudwatch": lambda c: c.list_metrics(Namespace="/aws/sagemaker/TrainingJobs"),  # CBOR
    "sts": lambda c: c.get_caller_identity(),
}
# (status, code) for an unsigned request, an unknown access key, a wrong secret.
REFUSALS = {
    "sagemaker": [(400, "MissingAuthenticationTokenException"),
                  (400, "UnrecognizedClientException"), (400, "InvalidSignatureException")],
    "logs": [(400, "MissingAuthenticationTokenException"),
             (400, "UnrecognizedClientException"), (400, "InvalidSignatureException")],
    "cloudwatch": [(400, "MissingAuthenticationTokenException"),
                   (400, "UnrecognizedClientException"), (400, "InvalidSignatureException")],
    "iam": [(403, "MissingAuthenticationToken"), (403, "InvalidClientTokenId"),
            (403, "SignatureDoesNotMatch")],
    "sts": [(403, "MissingAuthenticationToken"), (403, "InvalidClientTokenId"),
            (403, "SignatureDoesNotMatch")],
    "s3": [(403, "AccessDenied"), (403, "InvalidAccessKeyId"), (403, "SignatureDoesNotMatch")],
}
MESSAGES = {"UnrecognizedClientException": "The security token included in the request is "
                                           "invalid.",
            "InvalidSignatureException": "The request signature we calculated does not match "
                                         "the signature you provided."}


def refused(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    response = caught.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    TALLY.add(refused=1, server_errors=status >= 500)
    assert status < 500, response
    return status, response["Error"]["Code"], response["Error"].get("Message", "")


@pytest.mark.parametrize("service", sorted(CALLS))
def test_signed_requests_pass_and_the_rest_are_refused_in_the_services_words(
        endpoint: Endpoint, service: str) -> None:
    call = CALLS[service]
    call(client(endpoint, service))  # the right keys get in
    attempts = [unsigned(endpoint, service), client(endpoint, service, access_key="AKIDOTHER"),
                client(endpoint, service, secret="not-the-secret")]
    for made, (status, code) in zip(attempts, REFUSALS[service], strict=True):
        got_status, got_code, message = refused(lambda c=made: call(c))
        assert (got_status, got_code) == (status, code), message
        assert message.startswith(MESSAGES.get(code, "")), message


def _tamper(request: Any, **_: Any) -> None:
    """After signing, before sending: one byte of the body changed."""
    body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
    request.body = body.replace(b"5", b"6", 1) if b"5" in body else body + b" "
    request.headers["Content-Length"] = str(len(request.body))


@pytest.mark.parametrize("service", ["sagemaker", "logs", "iam", "s3"])
def test_a_body_changed_after_signing_is_refused(endpoint: Endpoint, service: str) -> None:
    tampered = client(endpoint, service)
    tampered.meta.events.register_last("before-send", _tamper)
    if service == "s3":
        client(endpoint, "s3").create_bucket(Bucket="tamper-bkt")
        status, code, _ = refused(lambda: tampered.put_object(Bucket="tamper-bkt", Key="k",
                                                              Body=b"5 bytes of data"))
        assert (status, code) == (400, "XAmzContentSHA256Mismatch")
        with pytest.raises(botocore.exceptions.ClientError):  # nothing was stored
            client(endpoint, "s3").head_object(Bucket="tamper-bkt", Key="k")
        return
    status, code, _ = refused(lambda: CALLS[service](tampered))
    assert (status, code) == REFUSALS[service][2]


@pytest.mark.parametrize("signature_version", ["s3v4", None])  # None: boto3's default, SigV2
def test_presigned_urls_work_and_a_wrong_one_is_refused(endpoint: Endpoint,
                                                        signature_version: str | None) -> None:
    extra = {"signature_version": signature_version} if signature_version else {}
    s3 = client(endpoint, "s3", **extra)
    s3.create_bucket(Bucket="presign-bkt")
    s3.put_object(Bucket="presign-bkt", Key="a b+c/d.txt", Body=b"presigned body")
    params = {"Bucket": "presign-bkt", "Key": "a b+c/d.txt"}
    good = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
    answer = requests.get(good, timeout=30)
    assert (answer.status_code, answer.content) == (200, b"presigned body")
    put = s3.generate_presigned_url("put_object", Params={**params, "Key": "put"},
                                    ExpiresIn=300)
    assert requests.put(put, data=b"put body", timeout=30).status_code == 200
    assert s3.get_object(Bucket="presign-bkt", Key="put")["Body"].read() == b"put body"
    wrong = client(endpoint, "s3", secret="wrong", **extra).generate_presigned_url(
        "get_object", Params=params, ExpiresIn=300)
    edited = good.replace("presign-bkt/a", "presign-bkt/b")
    for url, code in ((wrong, "SignatureDoesNotMatch"), (edited, "SignatureDoesNotMatch")):
        answer = requests.get(url, timeout=30)
        TALLY.add(refused=answer.status_code == 403)
        assert answer.status_code == 403 and f"<Code>{code}</Code>" in answer.text, answer.text
    expired = client(endpoint, "s3", signature_version="s3v4").generate_presigned_url(
        "get_object", Params=params, ExpiresIn=1)
    time.sleep(2.5)
    answer = requests.get(expired, timeout=30)
    TALLY.add(refused=answer.status_code == 403)
    assert answer.status_code == 403 and "<Code>AccessDenied</Code>" in answer.text \
        and "Request has expired" in answer.text, answer.text


def test_large_streaming_uploads_and_downloads_keep_working(endpoint: Endpoint) -> None:
    """boto3's multipart upload (8 MiB parts, payload hashes over http) and the default
    checksum settings; and one with payload signing off (UNSIGNED-PAYLOAD)."""
    data = os.urandom(20 * 1024 * 1024 + 3)
    for payload_signing in (True, False):
        s3 = boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
                          config=Config(s3={"addressing_style": "path",
                                            "payload_signing_enabled": payload_signing}))
        s3.create_bucket(Bucket="big-bkt")
        s3.upload_fileobj(io.BytesIO(data), "big-bkt", "big")
        out = io.BytesIO()
        s3.download_fileobj("big-bkt", "big", out)
        assert out.getvalue() == data


def test_extension_routes_need_a_signature_but_health(endpoint: Endpoint) -> None:
    with urllib.request.urlopen(f"{endpoint.url}/_smemu/health", timeout=10) as answer:
        assert answer.status == 200
    for method, route in (("POST", "reset"), ("GET", "jobs/none"), ("GET", "ui/")):
        request = urllib.request.Request(f"{endpoint.url}/_smemu/{route}", method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        TALLY.add(refused=1)
        assert caught.value.code in (400, 403)
    assert endpoint.reset() == {"Removed": [], "Running": []}  # signed: let in
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEMU_AUTH")}
    for keys, expected in ((f"{ACCESS_KEY}:{SECRET}", "ResourceNotFound"),
                           (f"{ACCESS_KEY}:wrong", "InvalidSignatureException")):
        interrupt = subprocess.run([sys.executable, "-m", "emulator", "jobs", "interrupt",
                                    "no-such-job", "--endpoint-url", endpoint.url],
                                   env={**env, "SMEMU_AUTH": keys}, capture_output=True,
                                   text=True, timeout=60)
        assert interrupt.returncode == 2 and expected in interrupt.stderr, interrupt.stderr


def test_doctor_says_whether_this_shells_keys_get_in(endpoint: Endpoint) -> None:
    def doctor(auth: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMEMU_AUTH")}
        done = subprocess.run([sys.executable, "-m", "emulator", "doctor", "--endpoint-url",
                               endpoint.url], env={**env, "SMEMU_AUTH": auth},
                              capture_output=True, text=True, timeout=120)
        return next(line for line in done.stdout.splitlines() if " auth " in line)

    assert doctor(f"{ACCESS_KEY}:{SECRET}").startswith("ok ")
    line = doctor(f"{ACCESS_KEY}:wrong")
    assert line.startswith("FAIL") and "SMEMU_AUTH" in line, line


def aws(endpoint: Endpoint, tmp_path: Path, *args: str, secret: str = SECRET
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_PAGER": "",
           "AWS_MAX_ATTEMPTS": "1"}
    env.pop("AWS_PROFILE", None)
    return subprocess.run([AWS, "--endpoint-url", endpoint.url, "--output", "json", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_aws_cli_signs_in_and_a_wrong_secret_is_refused(endpoint: Endpoint,
                                                            tmp_path: Path) -> None:
    assert aws(endpoint, tmp_path, "sagemaker", "list-training-jobs").returncode == 0
    wrong = aws(endpoint, tmp_path, "sagemaker", "list-training-jobs", secret="nope")
    TALLY.add(refused=wrong.returncode != 0)
    assert wrong.returncode != 0 and "InvalidSignatureException" in wrong.stderr
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(17 * 1024 * 1024))  # multipart: 8 MiB parts
    assert aws(endpoint, tmp_path, "s3", "mb", "s3://cli-bkt").returncode == 0
    copied = aws(endpoint, tmp_path, "s3", "cp", str(source), "s3://cli-bkt/big.bin")
    assert copied.returncode == 0, copied.stderr
    back = tmp_path / "back.bin"
    assert aws(endpoint, tmp_path, "s3", "cp", "s3://cli-bkt/big.bin", str(back)).returncode == 0
    assert back.read_bytes() == source.read_bytes()
    refused_copy = aws(endpoint, tmp_path, "s3", "cp", str(source), "s3://cli-bkt/no.bin",
                       secret="nope")
    TALLY.add(refused=refused_copy.returncode != 0)
    assert refused_copy.returncode != 0 and "SignatureDoesNotMatch" in refused_copy.stderr


def test_serve_takes_the_keys_from_a_credentials_file(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = wrong\naws_secret_access_key = x\n"
                           "[smemu]\naws_access_key_id = AKIDFILE\n"
                           "aws_secret_access_key = file-secret\n")
    env_before = {k: os.environ.pop(k) for k in ("SMEMU_AUTH", "SMEMU_AUTH_FILE")
                  if k in os.environ}
    try:
        with Endpoint(serve_args=["--auth-file", str(credentials), "--auth-profile", "smemu"],
                      ephemeral=True, state_dir=tmp_path / "state") as started:
            assert started.health()["auth"] is True
            client(started, "sagemaker", "AKIDFILE", "file-secret").list_training_jobs()
            status, code, _ = refused(lambda: client(started, "sagemaker", "smemu",
                                                     "smemu").list_training_jobs())
            assert (status, code) == (400, "UnrecognizedClientException")
        with pytest.raises(EndpointStartError, match="no profile"):
            Endpoint(serve_args=["--auth-file", str(credentials), "--auth-profile", "nope"],
                     ephemeral=True, state_dir=tmp_path / "state2",
                     start_timeout=30).start()
    finally:
        os.environ.update(env_before)


def test_up_passes_the_keys_to_its_endpoint_but_not_on_its_command_line(tmp_path: Path
                                                                        ) -> None:
    from tests.support.endpoint import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEMU_AUTH")}
    env["SMEMU_STATE_DIR"] = str(tmp_path / "state")

    def smemu(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
                              text=True, timeout=120, env={**env, **extra})

    started = smemu("up", "--port", str(port), "--ephemeral", "--auth", f"{ACCESS_KEY}:{SECRET}")
    try:
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}"
        record = (tmp_path / "state" / f"endpoint-{port}.json").read_text()
        pid = int(json.loads(record)["pid"])
        assert SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        refused_list = smemu("jobs", "list", "--endpoint-url", url)
        TALLY.add(refused=refused_list.returncode == 2)
        assert refused_list.returncode == 2
        assert "UnrecognizedClientException" in refused_list.stderr
        listed = smemu("jobs", "list", "--endpoint-url", url,
                       SMEMU_AUTH=f"{ACCESS_KEY}:{SECRET}")
        assert listed.returncode == 0, listed.stderr
        again = smemu("up", "--port", str(port))  # asked without keys: it says so
        assert "WARNING" in again.stderr and "checks" in again.stderr
    finally:
        smemu("down", "--port", str(port))


def test_the_pytest_plugin_starts_a_checking_endpoint_and_its_fixtures_sign(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import boto3, botocore, pytest

        def test_inner(smemu_endpoint, smemu_clients):
            assert smemu_endpoint.health()["auth"] is True
            smemu_clients.sagemaker.list_training_jobs()
            smemu_clients.s3.list_buckets()
            smemu_clients.logs.describe_log_groups()
            dummy = boto3.client("sagemaker", endpoint_url=smemu_endpoint.url,
                                 region_name="us-east-1", aws_access_key_id="smemu",
                                 aws_secret_access_key="smemu")
            with pytest.raises(botocore.exceptions.ClientError,
                               match="UnrecognizedClientException"):
                dummy.list_training_jobs()
    """)
    result = pytester.runpytest_subprocess("-p", "no:smemu", "-p", "emulator.pytest_plugin",
                                           "--smemu-auth", f"{ACCESS_KEY}:{SECRET}",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)  # the reset after it (a signed POST) did not fail either


def _streaming_put(endpoint: Endpoint, key: str, content_sha256: str,
                   body_of: Callable[[Any], bytes], decoded: int,
                   trailer: str | None = None) -> requests.Response:
    """A PUT in aws-chunked framing, signed as the Java / Go SDKs sign it (botocore sends
    these forms only over https)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from emulator.auth import sigv4

    url = f"{endpoint.url}/stream-bkt/{key}"
    headers = {"X-Amz-Content-SHA256": content_sha256, "Content-Encoding": "aws-chunked",
               "X-Amz-Decoded-Content-Length": str(decoded),
               "Host": endpoint.url.rpartition("/")[2]}
    if trailer:
        headers["X-Amz-Trailer"] = trailer.partition(":")[0]
    class StreamingSigner(S3SigV4Auth):
        def payload(self, request: Any) -> str:
            return content_sha256  # what a streaming signer signs instead of the body's hash

    request = AWSRequest("PUT", url, data=b"", headers=headers)
    StreamingSigner(Credentials(ACCESS_KEY, SECRET), "s3", "us-east-1").add_auth(request)
    sent = {k: v for k, v in request.headers.items()}
    received = sigv4.Received("PUT", f"/stream-bkt/{key}", "",
                              {k.lower(): v for k, v in sent.items()})
    claim = sigv4.claim_of(received)
    return requests.put(url, data=body_of(claim), headers=sent, timeout=60)


def test_aws_chunked_uploads_signed_chunk_by_chunk_or_with_an_unsigned_trailer(
        endpoint: Endpoint) -> None:
    from tests.unit.test_auth_verify import chunked_body

    client(endpoint, "s3").create_bucket(Bucket="stream-bkt")
    data = [b"a" * 70000, b"b" * 1234]
    total = sum(map(len, data))

    def signed(claim: Any) -> bytes:
        return chunked_body(claim, data, secret=SECRET)

    answer = _streaming_put(endpoint, "signed", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", signed,
                            total)
    assert answer.status_code == 200, answer.text
    got = client(endpoint, "s3").get_object(Bucket="stream-bkt", Key="signed")["Body"].read()
    assert got == b"".join(data)
    tampered = _streaming_put(endpoint, "tampered", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                              lambda claim: signed(claim).replace(b"bbbb", b"cccc", 1), total)
    assert tampered.status_code == 403 and "SignatureDoesNotMatch" in tampered.text
    with pytest.raises(botocore.exceptions.ClientError):  # nothing stored
        client(endpoint, "s3").head_object(Bucket="stream-bkt", Key="tampered")

    def unsigned_trailer(_: Any) -> bytes:
        return b"".join(f"{len(d):x}\r\n".encode() + d + b"\r\n" for d in data) + \
            b"0\r\nx-amz-checksum-crc32:" + _crc32(b"".join(data)) + b"\r\n\r\n"

    answer = _streaming_put(endpoint, "trailer", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                            unsigned_trailer, total, trailer="x-amz-checksum-crc32:")
    assert answer.status_code == 200, answer.text
    got = client(endpoint, "s3").get_object(Bucket="stream-bkt", Key="trailer")["Body"].read()
    assert got == b"".join(data)


def _crc32(data: bytes) -> bytes:
    import base64
    import zlib

    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))


@pytest.mark.parametrize(("service", "status", "code"), [
    ("s3", 403, "RequestTimeTooSkewed"), ("sagemaker", 400, "InvalidSignatureException"),
    ("iam", 403, "SignatureDoesNotMatch")])
def test_a_request_signed_20_minutes_off_is_refused_as_skewed(
        endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, service: str, status: int,
        code: str) -> None:
    import datetime

    import botocore.auth

    call = CALLS[service]
    made = client(endpoint, service)
    for minutes in (-20, 20):
        now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda now=now: now)
        got_status, got_code, message = refused(lambda: call(made))
        assert (got_status, got_code) == (status, code), message
    monkeypatch.undo()
    call(made)  # the same client, on time again


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
