"""Errors smemu writes, read back by botocore's own parsers; the guard in front of moto."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from werkzeug.test import Client
from werkzeug.wrappers import Response

from emulator.api.app import EndpointApp
from emulator.api.moto_guard import MotoGuard
from emulator.api.wire_errors import (
    CBOR,
    JSON,
    QUERY,
    REST_XML,
    WireRequest,
    classify,
    error_response,
)
from tests.unit.test_service_operations import make_service

SIGNED = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/{}/aws4_request, SignedHeaders=h"


@pytest.mark.parametrize("protocol", [JSON, CBOR, QUERY, REST_XML])
def test_each_protocol_error_parses_in_botocore(protocol: str) -> None:
    request = WireRequest(protocol, "svc", "DoThing", "application/x-amz-json-1.0")
    response = error_response(request, 400, "SomeCode", "a <message> & \u00fc" + "x" * 300)
    parser = "smithy-rpc-v2-cbor" if protocol == CBOR else protocol
    parsed = create_parser(parser).parse(
        {"status_code": response.status_code, "headers": HeadersDict(response.headers),
         "body": response.get_data()}, None)
    assert parsed["Error"]["Code"] == "SomeCode"
    assert parsed["Error"]["Message"] == "a <message> & \u00fc" + "x" * 300
    assert parsed["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize(("environ", "expected"), [
    ({"HTTP_X_AMZ_TARGET": "Logs_20140328.PutLogEvents",
      "HTTP_AUTHORIZATION": SIGNED.format("logs")}, (JSON, "logs", "PutLogEvents")),
    ({"HTTP_SMITHY_PROTOCOL": "rpc-v2-cbor",
      "PATH_INFO": "/service/GraniteServiceVersion20100801/operation/ListMetrics",
      "HTTP_AUTHORIZATION": SIGNED.format("monitoring")}, (CBOR, "monitoring", "ListMetrics")),
    ({"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
      "HTTP_AUTHORIZATION": SIGNED.format("iam")}, (QUERY, "iam", "GetRole")),
    ({"QUERY_STRING": "Action=GetCallerIdentity&Version=2011-06-15"},
     (QUERY, "", "GetCallerIdentity")),
    ({"PATH_INFO": "/bucket/key", "HTTP_AUTHORIZATION": SIGNED.format("s3")},
     (REST_XML, "s3", "")),
])
def test_classify(environ: dict[str, Any], expected: tuple[str, str, str]) -> None:
    form = b"Action=GetRole&RoleName=r" if "CONTENT_TYPE" in environ else None
    request = classify(environ, form)
    assert (request.protocol, request.service, request.operation) == expected


def _app_raising(error: Exception) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise error
    return app


def _iam_post(client: Client, body: str = "Action=GetRole&RoleName=r") -> Any:
    return client.post("/", data=body, headers={"Authorization": SIGNED.format("iam")},
                       content_type="application/x-www-form-urlencoded")


def test_missing_operation_is_400_in_the_protocol() -> None:
    client = Client(MotoGuard(_app_raising(NotImplementedError("The get_role action has not "
                                                               "been implemented"))))
    response = _iam_post(client)
    assert response.status_code == 400
    assert response.content_type == "text/xml"
    text = response.get_data(as_text=True)
    assert "<Code>InvalidAction</Code>" in text and "IAM operation GetRole" in text


def test_internal_error_is_500_internal_failure_with_a_logged_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    client = Client(MotoGuard(_app_raising(KeyError("boom"))))
    with caplog.at_level(logging.ERROR):
        response = _iam_post(client)
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "<Code>InternalFailure</Code>" in text and "<Type>Receiver</Type>" in text
    assert "html" not in text.lower()
    assert any(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records)


def test_html_and_5xx_answers_of_moto_are_rewritten() -> None:
    def html_500(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return Response("<html><p>Internal Server Error</p></html>", 500,
                        content_type="text/html")(environ, start_response)

    def html_400(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return Response("<html><title>x</title><p>The browser sent junk.</p></html>", 400,
                        content_type="text/html; charset=utf-8")(environ, start_response)

    s3 = {"Authorization": SIGNED.format("s3")}
    response = Client(MotoGuard(html_500)).get("/bucket/key", headers=s3)
    assert response.status_code == 500
    assert "<Code>InternalError</Code>" in response.get_data(as_text=True)  # S3's own word
    response = Client(MotoGuard(html_400)).get("/bucket/key", headers=s3)
    assert response.status_code == 400
    assert response.content_type == "application/xml"
    assert "<Message>The browser sent junk.</Message>" in response.get_data(as_text=True)


def test_good_answers_stream_through_untouched() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Any:
            return iter([b"a", b"b"])

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("206 Partial Content", [("Content-Type", "text/html")])
        return Body()

    response = Client(MotoGuard(app)).get("/b/k", headers={"Authorization": SIGNED.format("s3")})
    assert (response.status_code, response.get_data()) == (206, b"ab")
    response.close()
    assert closed == [True]


def test_endpoint_internal_errors_are_json_internal_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    service = make_service(tmp_path)

    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "emulator_report", broken)
    monkeypatch.setattr(service, "list_training_jobs", broken)
    client = Client(EndpointApp(service, "unit"))
    with caplog.at_level(logging.ERROR):
        for response in (client.get("/_smemu/jobs/x"),
                         client.post("/", data=b"{}", headers={
                             "X-Amz-Target": "SageMaker.ListTrainingJobs"})):
            answer = json.loads(response.get_data())
            assert response.status_code == 500
            assert answer["__type"] == "InternalFailure", answer
            assert "a bug" in answer["message"]
    assert sum(1 for r in caplog.records if r.exc_info) == 2


def test_sagemaker_body_over_the_limit_is_drained_and_refused(tmp_path: Path) -> None:
    client = Client(EndpointApp(make_service(tmp_path), "unit"))
    response = client.post("/", data=b" " * (9 * 1024 * 1024), headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs"})
    assert response.status_code == 413
    assert json.loads(response.get_data())["__type"] == "ValidationException"


def test_what_moto_cannot_process_is_a_400_not_a_500() -> None:
    """An exception from inside moto (an S3 POST without a form 'key', an X-Amz-Target
    without a dot) is a request moto does not support, so the client's: a 400."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    client = Client(MotoGuard(DomainDispatcherApplication(create_backend_app)))
    response = client.post("/", data=b"{}", headers={"X-Amz-Target": "NoDot",
                                                     "Content-Type": "application/json"})
    assert response.status_code == 400
    assert json.loads(response.get_data())["__type"] == "ValidationException"
    response = client.post("/fuzz-bucket", data=b"{}")
    assert response.status_code == 400
    assert "<Code>InvalidRequest</Code>" in response.get_data(as_text=True)
