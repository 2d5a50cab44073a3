"""Raw protocol abuse of the whole endpoint application (SageMaker, the extension routes and the
embedded moto services behind them): wrong targets, wrong content types, bad bodies, bad
signatures. Nothing may get a 5xx, and every rejection is an AWS error (JSON, CBOR or XML)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from emulator.api.app import EndpointApp
from emulator.storage.disk_s3.app import DiskS3App
from tests.support import figures
from tests.unit._s3server import MotoS3
from tests.unit.test_service_operations import make_service

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
TALLY = figures.Tally("fuzz-protocol")  # the README's Reliability figure
# No per-example deadline: that is a wall-clock assertion, red on a loaded CI machine; a hang
# is still caught by pytest-timeout (pyproject) and the clients' own timeouts.
FUZZ = settings(max_examples=EXAMPLES * 3, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SIGNED = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/{}/aws4_request, SignedHeaders=h, " \
         "Signature=00"
TARGETS = ["SageMaker.CreateTrainingJob", "SageMaker.ListTrainingJobs", "SageMaker.FlyAway",
           "SageMaker.", "sagemaker.listtrainingjobs", "Logs_20140328.DescribeLogGroups",
           "Logs_20140328.CreateImportTask", "Logs_20140328.", "GraniteServiceVersion20100801.X",
           "AmazonSSM.GetParameter", "DynamoDB_20120810.ListTables", "NoDot", ""]
CONTENT_TYPES = ["application/x-amz-json-1.1", "application/x-amz-json-1.0",
                 "application/json", "application/cbor", "application/x-www-form-urlencoded",
                 "application/xml", "text/plain", "multipart/form-data; boundary=x", ""]
HEADER_TEXT = st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f")
SERVICES = ["sagemaker", "iam", "sts", "logs", "monitoring", "s3"]
BODIES = st.one_of(
    st.binary(max_size=200),
    st.just(b"{}"), st.just(b"[]"), st.just(b"{garbage"), st.just(b"[" * 5000),
    st.just(b'{"MaxResults": 1e999}'), st.just(b"\xc3\x28\xff"),
    st.builds(lambda action: f"Action={action}&Version=2010-05-08".encode(),
              st.sampled_from(["GetRole", "SimulatePrincipalPolicy", "ChangePassword",
                               "GetCallerIdentity", "NoSuchAction", ""])),
    st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=8)),
                    max_size=4).map(lambda d: json.dumps(d).encode()),
)


@pytest.fixture(scope="module", params=["moto", "disk"])
def client(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
           s3: MotoS3) -> Client:
    """The application with each embedded S3 backend."""
    os.environ.setdefault("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")
    state = tmp_path_factory.mktemp("proto")
    disk = DiskS3App(state / "s3") if request.param == "disk" else None
    return Client(EndpointApp(make_service(state, s3), "unit", s3_app=disk,
                              s3_backend=request.param))


def assert_aws_rejection(response: Any, method: str, context: Any) -> None:
    status = response.status_code
    body = response.get_data()
    TALLY.add(requests=1, server_errors=status >= 500, refused=400 <= status < 500)
    assert status < 500, (context, status, body[:500])
    if status < 400 or method == "HEAD" or (status in (404, 304) and not body):
        return  # S3 answers a missing key's HEAD (and some 404s) without a body, as AWS does
    content_type = response.headers.get("Content-Type", "")
    assert "html" not in content_type.lower(), (context, body[:500])
    if "cbor" in content_type:
        parser = "smithy-rpc-v2-cbor"
    elif "json" in content_type:
        parser = "json"
    else:
        parser = "rest-xml" if b"<ErrorResponse" not in body else "query"
    parsed = create_parser(parser).parse({"status_code": status, "body": body,
                                          "headers": HeadersDict(response.headers)}, None)
    assert parsed.get("Error", {}).get("Code"), (context, status, body[:500])


@FUZZ
@given(target=st.one_of(st.sampled_from(TARGETS), st.text(HEADER_TEXT, max_size=30)),
       content_type=st.sampled_from(CONTENT_TYPES),
       service=st.one_of(st.none(), st.sampled_from(SERVICES)),
       body=BODIES, method=st.sampled_from(["POST", "POST", "GET", "PUT"]))
def test_rpc_abuse_never_5xx(client: Client, target: str, content_type: str,
                             service: str | None, body: bytes, method: str) -> None:
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    if service:
        headers["Authorization"] = SIGNED.format(service)
    response = client.open("/", method=method, data=body, headers=headers)
    assert_aws_rejection(response, method, (method, target, content_type, service, body[:200]))


@FUZZ
@given(path=st.one_of(st.sampled_from(["/", "/bucket-fuzz", "/bucket-fuzz/key", "/_smemu/",
                                       "/_smemu/jobs/x", "/_smemu/jobs/x/interrupt",
                                       "/_smemu/jobs/x/changes?after=0&timeout=0",
                                       "/_smemu/health", "//", "/%ff", "/a?uploads",
                                       "/a/b?partNumber=x&uploadId=y", "/a?versioning",
                                       "/a/b?acl", "/moto-api/"]),
                      st.text(max_size=30).map(lambda t: "/" + t)),
       method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
       signed=st.booleans(), body=BODIES)
def test_rest_abuse_never_5xx(client: Client, path: str, method: str, signed: bool,
                              body: bytes) -> None:
    headers = {"Authorization": SIGNED.format("s3")} if signed else {}
    response = client.open(path, method=method, data=body, headers=headers)
    assert_aws_rejection(response, method, (method, path, signed, body[:200]))


def test_huge_sagemaker_body_is_a_4xx(client: Client) -> None:
    response = client.post("/", data=b"{" + b" " * (12 * 1024 * 1024) + b"}", headers={
        "X-Amz-Target": "SageMaker.CreateTrainingJob",
        "Content-Type": "application/x-amz-json-1.1"})
    assert_aws_rejection(response, "POST", "huge")
    assert response.status_code == 413



def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
