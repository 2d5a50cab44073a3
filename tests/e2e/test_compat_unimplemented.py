"""The services around SageMaker over real HTTP: an operation they lack is a 4xx in the service's
own format naming it; the IAM calls SDK v3 makes to validate the role answer "allowed"; a
stalled client times out without holding up the others."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.testing.process import ServeProcess
from tests.support.endpoint import EndpointProcess

pytestmark = pytest.mark.docker

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"
S3_SIGNED = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
             "SignedHeaders=host, Signature=00")


def _client_error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response)


@pytest.mark.parametrize(("service", "operation", "params", "code"), [
    ("iam", "change_password", {"OldPassword": "a", "NewPassword": "b"}, "InvalidAction"),
    ("sts", "decode_authorization_message", {"EncodedMessage": "x"}, "InvalidAction"),
    ("logs", "create_import_task", {"importSourceArn": "arn:aws:s3:::b",
                                    "importRoleArn": ROLE_ARN}, "UnknownOperationException"),
    # botocore speaks Smithy RPC v2 CBOR to CloudWatch: the error comes back as CBOR
    ("cloudwatch", "delete_anomaly_detector", {"Namespace": "n", "MetricName": "m"},
     "UnknownOperationException"),
])
def test_unimplemented_operation_is_a_4xx_naming_it(endpoint: EndpointProcess, service: str,
                                                   operation: str, params: dict[str, Any],
                                                   code: str) -> None:
    client = endpoint.client(service)
    response = _client_error(lambda: getattr(client, operation)(**params))
    name = client.meta.method_to_api_mapping[operation]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == code
    assert f"operation {name} is not implemented" in response["Error"]["Message"]


def test_unimplemented_s3_request_is_rest_xml(endpoint: EndpointProcess, bucket: str) -> None:
    request = urllib.request.Request(f"{endpoint.url}/{bucket}", method="PATCH",
                                     headers={"Authorization": S3_SIGNED})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    body = info.value.read().decode()
    assert info.value.code == 400
    assert info.value.headers["Content-Type"] == "application/xml"
    assert "<Code>NotImplemented</Code>" in body and f"PATCH /{bucket}" in body, body


def test_role_simulation_allows_everything(endpoint: EndpointProcess) -> None:
    """What sagemaker.core.helper.iam_role_resolver asks (through the paginator, as it does),
    and what ModelTrainer._resolve_staging_bucket asks (with ResourceArns)."""
    iam = endpoint.client("iam")
    actions = ["sagemaker:CreateTrainingJob", "s3:PutObject", "logs:PutLogEvents"]
    pages = list(iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=ROLE_ARN, ActionNames=actions))
    results = [r for page in pages for r in page["EvaluationResults"]]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == \
        [(a, "allowed") for a in actions]
    staged = iam.simulate_principal_policy(PolicySourceArn=ROLE_ARN, ActionNames=["s3:PutObject"],
                                           ResourceArns=["arn:aws:s3:::sagemaker-x/*"])
    assert staged["EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert staged["EvaluationResults"][0]["EvalResourceName"] == "arn:aws:s3:::sagemaker-x/*"


def test_a_list_index_of_non_ascii_digits_is_not_a_500(endpoint: EndpointProcess) -> None:
    # "²" passes str.isdigit() but not int(): ActionNames.member.² must not crash the order.
    body = ("Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn="
            f"{ROLE_ARN}&ActionNames.member.%C2%B2=s3%3APutObject").encode()
    request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": (
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, "
            "SignedHeaders=host, Signature=00")})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    assert status < 500


def test_any_role_exists_and_trusts_sagemaker(endpoint: EndpointProcess) -> None:
    role = endpoint.client("iam").get_role(RoleName="SageMakerRole")["Role"]
    assert role["Arn"] == ROLE_ARN
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == \
        ("Allow", {"Service": "sagemaker.amazonaws.com"}, "sts:AssumeRole")


def test_a_created_role_is_described_as_created(endpoint: EndpointProcess, job_name: str) -> None:
    iam = endpoint.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=job_name, AssumeRolePolicyDocument=json.dumps(trust))
    try:
        role = iam.get_role(RoleName=job_name)["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == \
            {"Service": "ec2.amazonaws.com"}
    finally:
        iam.delete_role(RoleName=job_name)
    with pytest.raises(ClientError):  # an invalid name is still moto's to refuse
        iam.get_role(RoleName="no spaces allowed")


def test_the_caller_is_a_session_of_the_default_role(endpoint: EndpointProcess) -> None:
    """What SDK v3 with no role (and v2's get_execution_role) reads, then looks up."""
    arn = endpoint.client("sts").get_caller_identity()["Arn"]
    assert arn == "arn:aws:sts::123456789012:assumed-role/SageMakerRole/smemu"
    role = endpoint.client("iam").get_role(RoleName=arn.split("/")[1])["Role"]
    assert role["Arn"] == ROLE_ARN


@pytest.fixture(scope="module")
def quick_timeout_endpoint(tmp_path_factory: pytest.TempPathFactory,
                           docker_client: Any) -> Iterator[ServeProcess]:
    env = {**os.environ, "SMEMU_REQUEST_TIMEOUT": "2"}
    with ServeProcess(tmp_path_factory.mktemp("timeout"), env=env) as process:
        yield process


def _stall(url: str, head: bytes) -> socket.socket:
    host, port = url.rpartition("/")[2].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(30)
    sock.sendall(head)
    return sock


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


@pytest.mark.parametrize(("head", "marker"), [
    (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListTrainingJobs\r\n"
     b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{\"Max",
     b'"__type": "RequestTimeout"'),
    (b"PUT /some-bucket/key HTTP/1.1\r\nHost: x\r\nAuthorization: " + S3_SIGNED.encode()
     + b"\r\nContent-Length: 100\r\n\r\nabc", b"<Code>RequestTimeout</Code>"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
     b"Authorization: " + S3_SIGNED.replace("/s3/", "/iam/").encode()
     + b"\r\nContent-Length: 100\r\n\r\nAction=Get", b"<Code>RequestTimeout</Code>"),
], ids=["sagemaker-json", "s3-rest-xml", "iam-query"])
def test_stalled_body_times_out_and_others_are_served(quick_timeout_endpoint: ServeProcess,
                                                      head: bytes, marker: bytes) -> None:
    url = quick_timeout_endpoint.url
    stalled = _stall(url, head)
    others = [_stall(url, b"GET /_smemu/health HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(3)]
    for other in others:  # served while the stalled request still waits
        assert b'"status": "ok"' in _answer(other)
    answer = _answer(stalled)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert marker in answer, answer


def test_idle_connection_is_closed(quick_timeout_endpoint: ServeProcess) -> None:
    sock = _stall(quick_timeout_endpoint.url, b"POST / HTTP/1.1\r\n")  # never ends its headers
    started = time.monotonic()
    assert _answer(sock) == b""  # closed, not held open
    assert time.monotonic() - started < 25  # the client's own 30 s deadline did not fire


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n",
], ids=["garbage", "http-9", "long-uri", "long-header"])
def test_broken_http_is_a_json_4xx(endpoint: EndpointProcess, request_bytes: bytes) -> None:
    answer = _answer(_stall(endpoint.url, request_bytes))
    head, _, body = answer.rpartition(b"\r\n\r\n") if b"\r\n\r\n" in answer else (b"", b"", answer)
    if head:
        status = int(head.split()[1])
        assert 400 <= status < 500, answer[:300]
    assert json.loads(body)["__type"], answer[:300]

