"""A bounded property-based fuzz of a real endpoint over real sockets: every SageMaker operation
of botocore's model, valid and mutated, as raw JSON 1.1 requests. No answer is a 5xx, none
hangs (each has a client deadline), and every rejection is an AWS JSON error."""

from __future__ import annotations

import http.client
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import figures
from tests.support.endpoint import EndpointProcess
from tests.support.shapes import operation_names, request

pytestmark = pytest.mark.docker
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
TALLY = figures.Tally("fuzz-http")  # the README's Reliability figure


def _post(endpoint: EndpointProcess, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    host, port = endpoint.url.rpartition("/")[2].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)  # never hang
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# No per-example deadline: that is a wall-clock assertion, red on a loaded CI machine; a hang
# is still caught by pytest-timeout (pyproject) and the clients' own timeouts.
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_operation_over_http_never_5xx(endpoint: EndpointProcess, data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(operation_names()), label="operation")
    params: Any = data.draw(request(operation), label="request")
    if operation == "CreateTrainingJob" and isinstance(params, dict):
        params.pop("AlgorithmSpecification", None)  # never start a container from the fuzz
    body = json.dumps(params).encode("utf-8", "surrogatepass")
    status, answer = _post(endpoint, {"X-Amz-Target": f"SageMaker.{operation}",
                                      "Content-Type": "application/x-amz-json-1.1"}, body)
    TALLY.add(requests=1, server_errors=status >= 500, refused=400 <= status < 500)
    assert status < 500, (operation, params, answer[:500])
    if status >= 400:
        error = json.loads(answer)
        assert error["__type"] and error["message"], answer


def test_huge_body_over_http_is_refused(endpoint: EndpointProcess) -> None:
    body = b'{"TrainingJobName": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    status, answer = _post(endpoint, {"X-Amz-Target": "SageMaker.DescribeTrainingJob",
                                      "Content-Type": "application/x-amz-json-1.1"}, body)
    TALLY.add(requests=1, huge_bodies=1, server_errors=status >= 500, refused=status == 413)
    assert status == 413, answer[:300]
    assert json.loads(answer)["__type"] == "ValidationException"
    status, _ = _post(endpoint, {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                 "Content-Type": "application/x-amz-json-1.1"}, b"{}")
    assert status == 200  # and the endpoint goes on


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
