"""One WSGI application on one port: SageMaker here, everything else (S3, Logs, STS) by moto."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.wrappers import Request, Response

from emulator import __version__
from emulator.api.logs import LogsCompat
from emulator.api.sagemaker import CONTENT_TYPE, TARGET_PREFIX, SageMakerHandler
from emulator.errors import AwsError
from emulator.jobs.service import JobService

EXTENSION_PREFIX = "/_smemu/"


class EndpointApp:
    def __init__(self, service: JobService, server_id: str,
                 s3_endpoint_url: str | None = None) -> None:
        self.service = service
        self.server_id = server_id
        self.s3_endpoint_url = s3_endpoint_url  # the S3 jobs use when not the embedded one
        self.sagemaker = SageMakerHandler(service)
        self.moto = LogsCompat(DomainDispatcherApplication(create_backend_app))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.lower().startswith(TARGET_PREFIX.lower()) or _signed_for_sagemaker(environ):
            request = Request(environ)
            status, body = self.sagemaker.handle(target, request.get_data())
            return _json(body, status, CONTENT_TYPE)(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path.startswith(EXTENSION_PREFIX):
            return self._extension(Request(environ))(environ, start_response)
        return self.moto(environ, start_response)

    def _extension(self, request: Request) -> Response:
        parts = [p for p in request.path[len(EXTENSION_PREFIX):].split("/") if p]
        try:
            if parts == ["health"]:
                return _json({"status": "ok", "server_id": self.server_id, "version": __version__,
                              "s3_endpoint_url": self.s3_endpoint_url})
            if parts == ["reset"] and request.method == "POST":
                return _json(self.service.reset())
            if len(parts) == 2 and parts[0] == "jobs" and request.method == "GET":
                return _json(self.service.emulator_report(parts[1]))
            if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "interrupt" \
                    and request.method == "POST":
                return _json(self.service.interrupt_training_job(parts[1]))
        except AwsError as err:
            return _json(err.to_wire(), err.status)
        return _json({"__type": "NotFound", "message": f"no such emulator route {request.path}"},
                     404)


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
