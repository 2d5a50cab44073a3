"""IAM as a local endpoint can honestly answer it: there is no IAM here, so everything is allowed.

The SageMaker Python SDK v3 validates the training role before it creates a job
(sagemaker.core.helper.iam_role_resolver): iam:SimulatePrincipalPolicy on the role (moto does
not implement it), then iam:GetRole to read the role's trust policy (moto knows no role nobody
created). Both answer "allowed" here: the simulation allows every action on every resource, and
a role moto does not know is described as existing and trusted by SageMaker. A role created in
the embedded IAM is described as moto keeps it. Without a role, the SDK takes the caller's: STS
GetCallerIdentity of moto's default caller answers a session of the default role
(`assumed-role/SageMakerRole/smemu`) instead of moto's IAM user, which has no role to use.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from emulator import contract
from emulator.api.logs import read_body, with_body
from emulator.api.wire_errors import classify, error_response, is_form

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
SIMULATIONS = ("SimulatePrincipalPolicy", "SimulateCustomPolicy")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
# Who moto's default caller is: a session of the default role, as in a SageMaker notebook, so
# that the SDK's "use the caller's role" (v3 with no role, v2's get_execution_role) finds one.
CALLER_ROLE_SESSION = b"assumed-role/" + contract.DEFAULT_ROLE_ARN.rpartition("/")[2].encode() \
    + b"/smemu"
# The trust policy of a role nobody created: SageMaker may assume it.
TRUST_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


class IamAllowAll:
    """WSGI middleware in front of moto's IAM."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        service = _service(environ)
        if service not in ("iam", "sts") or not is_form(environ):
            return self.app(environ, start_response)
        body = read_body(environ)
        environ = with_body(environ, body)
        form = parse_qs(body.decode("latin-1"))
        action = (form.get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get("Action")
                  or [""])[0]
        if service == "sts":
            if action != "GetCallerIdentity":
                return self.app(environ, start_response)
            status, headers, data = self._moto_answer(environ)
            if status.startswith("200"):  # moto's default caller, not an IAM user created in it
                data = data.replace(b":user/moto</Arn>", b":" + CALLER_ROLE_SESSION + b"</Arn>")
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [
                    ("Content-Length", str(len(data)))]
        elif action in SIMULATIONS:
            return _simulation(environ, action, form)(environ, start_response)
        elif action == "GetRole":
            name = (form.get("RoleName") or [""])[0]
            status, headers, data = self._moto_answer(environ)
            if status.startswith("404") and b"NoSuchEntity" in data and ROLE_NAME.match(name):
                return _xml("GetRole", _role_xml(name))(environ, start_response)
        else:
            return self.app(environ, start_response)
        start_response(status, headers)
        return [data]

    def _moto_answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]],
                    exc_info: Any = None) -> Callable[[bytes], None]:
            started.append((status, headers))
            return lambda _data: None

        chunks = self.app(environ, capture)
        data = b"".join(chunks)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        status, headers = started[0] if started else ("500 Internal Server Error", [])
        return status, list(headers), data


def _service(environ: dict[str, Any]) -> str:
    """The signing service, else the one the Host names (iam.amazonaws.com)."""
    return classify(environ).service or str(environ.get("HTTP_HOST", "")).partition(".")[0]


def _simulation(environ: dict[str, Any], action: str, form: dict[str, list[str]]) -> Response:
    actions = _members(form, "ActionNames")
    source = "PolicySourceArn" if action == "SimulatePrincipalPolicy" else "PolicyInputList"
    has_source = bool(form.get(source)) or bool(_members(form, source))
    missing = [name for name, present in ((source, has_source), ("ActionNames", bool(actions)))
               if not present]
    if missing:
        field = missing[0][0].lower() + missing[0][1:]
        return error_response(classify(environ), 400, "ValidationError",
                              f"1 validation error detected: Value null at '{field}' failed to "
                              "satisfy constraint: Member must not be null")
    resources = _members(form, "ResourceArns") or ["*"]
    results = "".join(
        f"<member><EvalActionName>{escape(name)}</EvalActionName>"
        f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
        "<EvalDecision>allowed</EvalDecision><MatchedStatements/><MissingContextValues/>"
        "</member>" for name in actions for resource in resources)
    return _xml(action, f"<IsTruncated>false</IsTruncated>"
                        f"<EvaluationResults>{results}</EvaluationResults>")


def _members(body: dict[str, list[str]], name: str) -> list[str]:
    """A query-protocol list, `Name.member.1=a&Name.member.2=b`, in order."""
    prefix = f"{name}.member."
    found = [(key[len(prefix):], values[0]) for key, values in body.items()
             if key.startswith(prefix)]
    return [value for index, value in sorted(found, key=lambda kv: _index(kv[0]))]


def _index(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() else 0


def _role_xml(name: str) -> str:
    created = datetime(2026, 1, 1, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    role_id = "AROA" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:17].upper()
    arn = f"arn:aws:iam::{contract.DEFAULT_ACCOUNT}:role/{name}"
    return (f"<Role><Path>/</Path><RoleName>{escape(name)}</RoleName><RoleId>{role_id}</RoleId>"
            f"<Arn>{escape(arn)}</Arn><CreateDate>{created}</CreateDate>"
            f"<AssumeRolePolicyDocument>{quote(json.dumps(TRUST_POLICY))}"
            "</AssumeRolePolicyDocument><MaxSessionDuration>3600</MaxSessionDuration></Role>")


def _xml(action: str, result: str) -> Response:
    request_id = str(uuid.uuid4())
    response = Response(
        f'<{action}Response xmlns="{IAM_NAMESPACE}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>", content_type="text/xml")
    response.headers["x-amzn-RequestId"] = request_id
    return response
