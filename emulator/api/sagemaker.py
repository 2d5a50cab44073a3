"""The SageMaker JSON 1.1 wire adapter: one operation, one job-service call."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from emulator.errors import (
    AwsError,
    InternalFailure,
    SerializationException,
    UnknownOperationException,
)
from emulator.jobs.service import JobService

log = logging.getLogger(__name__)
TARGET_PREFIX = "SageMaker."
CONTENT_TYPE = "application/x-amz-json-1.1"


def _operations(service: JobService) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    return {
        "CreateTrainingJob": service.create_training_job,
        "DescribeTrainingJob": service.describe_training_job,
        "ListTrainingJobs": service.list_training_jobs,
        "StopTrainingJob": service.stop_training_job,
        "DeleteTrainingJob": service.delete_training_job,
        "AddTags": service.add_tags,
        "ListTags": service.list_tags,
        "DeleteTags": service.delete_tags,
    }


class SageMakerHandler:
    def __init__(self, service: JobService) -> None:
        self.operations = _operations(service)

    def handle(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request; never raises."""
        operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        try:
            handler = self.operations.get(operation)
            if handler is None:
                what = f"The operation {operation}" if operation else \
                    f"X-Amz-Target {target!r} (expected {TARGET_PREFIX}<Operation>)" if target \
                    else f"A request without an 'X-Amz-Target: {TARGET_PREFIX}<Operation>' header"
                raise UnknownOperationException(
                    f"{what} is not supported by smemu. Supported: "
                    + ", ".join(sorted(self.operations))
                )
            params = _parse_body(body)
            return 200, handler(params)
        except AwsError as err:
            return err.status, err.to_wire()
        except Exception as err:
            log.exception("%s failed", operation)
            failure = InternalFailure(f"smemu internal error in {operation}: {err}")
            return failure.status, failure.to_wire()


def _parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = json.loads(body)
    except (ValueError, RecursionError) as err:  # bad UTF-8 and huge integers are ValueErrors
        raise SerializationException(f"Request body is not valid JSON: {err}"[:1024]) from err
    if not isinstance(params, dict):
        raise SerializationException("Start of list found where not expected"
                                     if isinstance(params, list) else
                                     "Request body must be a JSON object")
    return params
