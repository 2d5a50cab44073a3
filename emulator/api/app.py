"""One WSGI application on one port: SageMaker here, everything else (S3, Logs, STS) by moto."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from emulator.api.container_s3_faults import ContainerS3Faults
from emulator.api.dispatch import MotoDispatcher
from emulator.api.iam import IamAllowAll
from emulator.api.logs import LogsCompat
from emulator.api.moto_guard import MotoGuard, answer_exception
from emulator.api.sagemaker import CONTENT_TYPE, TARGET_PREFIX, SageMakerHandler
from emulator.api.ui import BrowserView
from emulator.api.wire_errors import JSON, WireRequest, error_response
from emulator.errors import AwsError, ValidationException
from emulator.faults.s3_routes import ContainerFaultRoutes
from emulator.jobs.service import JobService
from emulator.report.html_views import UI_PREFIX
from emulator.storage.backends import is_s3_request
from emulator.version import __version__

log = logging.getLogger(__name__)
EXTENSION_PREFIX = "/_smemu/"
WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
# No SageMaker request comes near this (CreateTrainingJob's largest fields total ~1 MiB); a
# bigger body is read and dropped in chunks, never held.
MAX_SAGEMAKER_BODY = 8 * 1024 * 1024
_CHUNK = 1 << 16


class EndpointApp:
    def __init__(self, service: JobService, server_id: str,
                 s3_endpoint_url: str | None = None, s3_app: WsgiApp | None = None,
                 s3_backend: str = "moto",
                 container_faults: ContainerFaultRoutes | None = None,
                 auth: bool = False) -> None:
        self.service = service
        self.server_id = server_id
        self.s3_endpoint_url = s3_endpoint_url  # the S3 jobs use when not the embedded one
        self.sagemaker = SageMakerHandler(service)
        self.moto = MotoGuard(IamAllowAll(LogsCompat(MotoDispatcher())))
        # The embedded S3 when it is not moto's (emulator.storage.backends), its errors in S3's
        # format as moto's are.
        self.s3_app = MotoGuard(s3_app) if s3_app is not None else None
        self.s3_backend = s3_backend
        self.auth = auth  # signatures are checked (emulator.api.auth_gate, in front of this)
        # The jobs' S3 faults on their containers' requests (the gateway's, never the host's).
        self.container_faults = ContainerS3Faults(container_faults or ContainerFaultRoutes())
        self.ui = BrowserView(service)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        path = environ.get("PATH_INFO", "")
        if not (target.lower().startswith(TARGET_PREFIX.lower())
                or _signed_for_sagemaker(environ) or path.startswith(EXTENSION_PREFIX)):
            if is_s3_request(environ):
                return self.container_faults(self._s3, environ, start_response)
            return self.moto(environ, start_response)
        try:
            return self._ours(environ, target, path)(environ, start_response)
        except Exception as err:
            request = WireRequest(JSON, "sagemaker", target.rpartition(".")[2],
                                  CONTENT_TYPE)
            return answer_exception(request, err, environ)(environ, start_response)

    def _s3(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        app = self.s3_app if self.s3_app is not None else self.moto
        return app(environ, start_response)

    def _ours(self, environ: dict[str, Any], target: str, path: str) -> Response:
        if path.startswith(EXTENSION_PREFIX):
            return self._extension(Request(environ))
        body = _bounded_body(environ)
        if body is None:
            request = WireRequest(JSON, "sagemaker", target.rpartition(".")[2], CONTENT_TYPE)
            return error_response(request, 413, "ValidationException",
                                  f"The request body is larger than smemu's limit of "
                                  f"{MAX_SAGEMAKER_BODY} bytes for a SageMaker request.")
        status, answer = self.sagemaker.handle(target, body)
        return _json(answer, status, CONTENT_TYPE)

    def _extension(self, request: Request) -> Response:
        if request.path == UI_PREFIX:
            return redirect(UI_PREFIX + "/")
        if request.path.startswith(UI_PREFIX + "/"):
            return self.ui(request)
        parts = [p for p in request.path[len(EXTENSION_PREFIX):].split("/") if p]
        try:
            if parts == ["health"]:
                return _json({"status": "ok", "server_id": self.server_id, "version": __version__,
                              "s3_endpoint_url": self.s3_endpoint_url,
                              "s3_backend": self.s3_backend, "auth": self.auth,
                              "max_training_instances": self.service.max_instances})
            if parts == ["reset"] and request.method == "POST":
                return _json(self.service.reset())
            if len(parts) == 2 and parts[0] == "jobs" and request.method == "GET":
                return _json(self.service.emulator_report(parts[1]))
            if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "changes" \
                    and request.method == "GET":
                after, timeout = _change_wait(request)
                return _json(self.service.job_changes(parts[1], after, timeout))
            if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "interrupt" \
                    and request.method == "POST":
                return _json(self.service.interrupt_training_job(parts[1]))
        except AwsError as err:
            return _json(err.to_wire(), err.status)
        return _json({"__type": "NotFound", "message": f"no such emulator route {request.path}"},
                     404)


def _change_wait(request: Request) -> tuple[int, float]:
    """`?after=N&timeout=S` of a changes long-poll: the change count the client has seen (0),
    and how long it waits for a newer one (emulator.jobs.changes.MAX_WAIT_S at most)."""
    try:
        after = int(request.args.get("after", "0"))
        timeout = float(request.args.get("timeout", "10"))
    except ValueError:
        after, timeout = -1, -1.0
    if after < 0 or not 0.0 <= timeout < float("inf"):
        raise ValidationException("after must be a whole number >= 0 and timeout a number of "
                                  "seconds >= 0")
    return after, timeout


def _bounded_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None (after draining it) when it is over MAX_SAGEMAKER_BODY."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared <= MAX_SAGEMAKER_BODY:
        stream = Request(environ).stream  # bounded by Content-Length, de-chunked by the server
        body = stream.read(MAX_SAGEMAKER_BODY + 1)
        if len(body) <= MAX_SAGEMAKER_BODY:
            return bytes(body)
    else:
        stream = Request(environ).stream
    while stream.read(_CHUNK):
        pass
    return None


def _signed_for_sagemaker(environ: dict[str, Any]) -> bool:
    """A request SigV4-signed for 'sagemaker' is ours even without a SageMaker target
    (moto would otherwise answer it with its own, fake SageMaker)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    return "/sagemaker/aws4_request" in authorization


def _json(body: dict[str, Any], status: int = 200,
          content_type: str = "application/json") -> Response:
    response = Response(json.dumps(body), status=status, content_type=content_type)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())  # botocore's RequestId
    return response
