"""AWS error bodies in each wire protocol, and which protocol and operation a request speaks.

The services behind the one port answer in four protocols: JSON (SageMaker, CloudWatch Logs),
Smithy RPC v2 CBOR (CloudWatch metrics, which botocore now prefers), query (IAM, STS; errors are
XML) and rest-xml (S3). An error smemu itself raises must be in the protocol the client sent,
or the client cannot parse it (an HTML page made botocore report "invalid XML received").
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

JSON, CBOR, QUERY, REST_XML = "json", "rpc-v2-cbor", "query", "rest-xml"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# S3's own words for a stalled upload; the other services have no word of their own for it.
REQUEST_TIMEOUT_MESSAGE = ("Your socket connection to the server was not read from or written "
                           "to within the timeout period. Idle connections will be closed.")

SERVICE_TITLES = {"s3": "S3", "iam": "IAM", "sts": "STS", "logs": "CloudWatch Logs",
                  "monitoring": "CloudWatch", "sagemaker": "SageMaker"}


@dataclass(frozen=True)
class WireRequest:
    """What an error answer needs to know about the request it answers."""

    protocol: str
    service: str  # the SigV4 signing name ("iam", "logs", ...), or "" when unsigned
    operation: str  # "" when the request does not say
    content_type: str

    def describe(self) -> str:
        """'the IAM operation SimulatePrincipalPolicy', for messages."""
        service = SERVICE_TITLES.get(self.service, self.service)
        where = f"{service} " if service else ""
        return f"the {where}operation {self.operation}" if self.operation else \
            f"this {where}request (it names no operation)"


def is_form(environ: dict[str, Any]) -> bool:
    return str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower() == FORM_CONTENT_TYPE


def classify(environ: dict[str, Any], body: bytes | None = None) -> WireRequest:
    """The protocol, signing service and operation of a request. `body` is the form body of a
    query-protocol request when the caller has read it (the Action may be there)."""
    content_type = str(environ.get("CONTENT_TYPE", ""))
    service = _signing_service(environ)
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    path = str(environ.get("PATH_INFO", ""))
    if str(environ.get("HTTP_SMITHY_PROTOCOL", "")).lower() == CBOR:
        return WireRequest(CBOR, service, path.rstrip("/").rpartition("/")[2], content_type)
    if target:
        return WireRequest(JSON, service, target.rpartition(".")[2], content_type)
    action = _query_action(environ, body)
    if action is not None or is_form(environ):
        return WireRequest(QUERY, service, action or "", content_type)
    return WireRequest(REST_XML, service or "s3", "", content_type)


def error_response(request: WireRequest, status: int, code: str, message: str) -> Response:
    """An AWS error in the request's protocol."""
    request_id = str(uuid.uuid4())
    if request.protocol == JSON:
        json_type = request.content_type if "amz-json" in request.content_type else \
            "application/x-amz-json-1.1"
        response = Response(json.dumps({"__type": code, "message": message}), status=status,
                            content_type=json_type)
    elif request.protocol == CBOR:
        response = Response(cbor_map({"__type": code, "message": message}), status=status,
                            content_type="application/cbor")
        response.headers["smithy-protocol"] = CBOR
    elif request.protocol == QUERY:
        kind = "Sender" if status < 500 else "Receiver"
        response = Response(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>{kind}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>",
            status=status, content_type="text/xml")
    else:
        response = Response(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>",
            status=status, content_type="application/xml")
    response.headers["x-amzn-RequestId"] = request_id
    if request.protocol == REST_XML:
        response.headers["x-amz-request-id"] = request_id
    if request.protocol == JSON:
        response.headers["x-amzn-ErrorType"] = code
    return response


def unsupported_code(request: WireRequest) -> str:
    """Each protocol's own code for an operation the service does not know."""
    return {QUERY: "InvalidAction", REST_XML: "NotImplemented"}.get(
        request.protocol, "UnknownOperationException")


def unsupported_input_code(request: WireRequest) -> str:
    """Each protocol's code for a request whose input the service cannot process."""
    return {QUERY: "InvalidParameterValue", REST_XML: "InvalidRequest"}.get(
        request.protocol, "ValidationException")


def internal_code(request: WireRequest) -> str:
    return "InternalError" if request.protocol == REST_XML else "InternalFailure"


def cbor_map(fields: dict[str, str]) -> bytes:
    """A CBOR map of text to text (RFC 8949): all an error body needs."""
    out = _cbor_head(5, len(fields))
    for key, value in fields.items():
        for text in (key, value):
            data = text.encode("utf-8", "replace")
            out += _cbor_head(3, len(data)) + data
    return out


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise ValueError("too long for CBOR")


def _signing_service(environ: dict[str, Any]) -> str:
    """'iam' from 'AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/iam/aws4_request, ...'."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = authorization.split(",")[0].partition("Credential=")[2].split("/")
    return scope[3].lower() if len(scope) == 5 else ""


def _query_action(environ: dict[str, Any], body: bytes | None) -> str | None:
    for text in (str(environ.get("QUERY_STRING", "")), (body or b"").decode("latin-1")):
        values = parse_qs(text).get("Action")
        if values:
            return values[0]
    return None
