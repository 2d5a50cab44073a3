"""Property-based fuzzing of the SageMaker wire adapter: every operation of botocore's model,
valid and mutated, gets an answer below 500 in AWS's JSON error format.

The budget is fixed (examples per test, a deadline per example), so the suite's time is bounded;
`FUZZ_EXAMPLES` raises it for a longer local run."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.api.sagemaker import SageMakerHandler
from tests.support import figures
from tests.support.shapes import minimal_request, mutate, operation_names, request
from tests.unit._s3server import MotoS3
from tests.unit.test_service_operations import GOOD, add_job, make_service

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
TALLY = figures.Tally("fuzz-service")  # the README's Reliability figure
# No per-example deadline: that is a wall-clock assertion, red on a loaded CI machine; a hang
# is still caught by pytest-timeout (pyproject) and the clients' own timeouts.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much])
IMPLEMENTED = ["CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob",
               "DeleteTrainingJob", "AddTags", "ListTags", "DeleteTags"]
OTHERS = [name for name in operation_names() if name not in IMPLEMENTED]
ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/existing"


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory, s3: MotoS3) -> Iterator[SageMakerHandler]:
    # The service's runners run nothing (IdleRunner): the fuzz checks the answers.
    service = make_service(tmp_path_factory.mktemp("fuzz"), s3)
    add_job(service, "existing")
    yield SageMakerHandler(service)


def assert_aws_answer(status: int, answer: dict[str, Any], context: Any) -> None:
    TALLY.add(requests=1, server_errors=status >= 500, refused=400 <= status < 500)
    assert status < 500, (context, answer)
    if status != 200:
        assert isinstance(answer.get("__type"), str) and answer["__type"], (context, answer)
        assert isinstance(answer.get("message"), str) and answer["message"], (context, answer)
    json.dumps(answer)  # what the endpoint would write must serialise


def _send(handler: SageMakerHandler, operation: str, params: Any) -> tuple[int, dict[str, Any]]:
    body = json.dumps(params, allow_nan=True).encode("utf-8", "surrogatepass")
    return handler.handle(f"SageMaker.{operation}", body)


def _based_on_good(rng_name: str) -> dict[str, Any]:
    """A request that passes validation, to mutate near the accepted path."""
    return {**copy.deepcopy(GOOD), "TrainingJobName": rng_name,
            "Tags": [{"Key": "a", "Value": "b"}], "HyperParameters": {"k": "v"},
            "Environment": {"E": "1"},
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://there/d"}}}]}


BASES: dict[str, Any] = {
    "DescribeTrainingJob": {"TrainingJobName": "existing"},
    "ListTrainingJobs": {"MaxResults": 5, "NextToken": "eyJpIjogMX0=", "SortBy": "Name",
                         "CreationTimeAfter": 0, "NameContains": "ex"},
    "StopTrainingJob": {"TrainingJobName": "existing"},
    "DeleteTrainingJob": {"TrainingJobName": "existing"},
    "AddTags": {"ResourceArn": ARN, "Tags": [{"Key": "a", "Value": "b"}]},
    "ListTags": {"ResourceArn": ARN, "MaxResults": 50},
    "DeleteTags": {"ResourceArn": ARN, "TagKeys": ["a"]},
}


def _near_valid(operation: str) -> st.SearchStrategy[Any]:
    if operation == "CreateTrainingJob":
        base = st.integers(0, 10**6).map(lambda n: _based_on_good(f"fuzz{n}"))
    else:
        base = st.just(BASES[operation]).map(copy.deepcopy)
    return st.tuples(base, st.data()).map(lambda pair: mutate(pair[0], pair[1]))


@pytest.mark.parametrize("operation", IMPLEMENTED)
@FUZZ
@given(data=st.data())
def test_implemented_operations_never_5xx(handler: SageMakerHandler, operation: str,
                                          data: st.DataObject) -> None:
    params = data.draw(st.one_of(request(operation), _near_valid(operation)), label="request")
    status, answer = _send(handler, operation, params)
    assert_aws_answer(status, answer, (operation, params))
    if status == 200 and operation == "CreateTrainingJob":  # what was accepted renders
        name = {"TrainingJobName": params["TrainingJobName"]}
        for then in ("DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob"):
            status, answer = _send(handler, then, name)
            assert status == 200, (then, params, answer)


@FUZZ
@given(data=st.data())
def test_other_operations_are_unknown_operations(handler: SageMakerHandler,
                                                 data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(OTHERS), label="operation")
    params = data.draw(request(operation), label="request")
    status, answer = _send(handler, operation, params)
    TALLY.add(requests=1, server_errors=status >= 500, refused=400 <= status < 500)
    assert (status, answer["__type"]) == (400, "UnknownOperationException"), answer
    assert operation in answer["message"]


def test_every_operation_of_the_model_is_answered(handler: SageMakerHandler) -> None:
    """All of them, once each, with the required members only: none may get a 5xx."""
    for operation in operation_names():
        status, answer = _send(handler, operation, minimal_request(operation))
        assert_aws_answer(status, answer, operation)
        if operation not in IMPLEMENTED:
            assert answer["__type"] == "UnknownOperationException", (operation, answer)


@FUZZ
@given(body=st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(lambda key, raw: f'{{"{key}": {raw}}}'.encode(),
              st.sampled_from(["MaxResults", "TrainingJobName", "CreationTimeAfter", "Tags"]),
              st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "7" * 400, "0x10",
                               "[" * 3000, "{" * 3000, '"\\ud800"', "01", "true"]))))
def test_raw_bodies_never_5xx(handler: SageMakerHandler, body: bytes) -> None:
    for operation in ("CreateTrainingJob", "ListTrainingJobs", "DescribeTrainingJob"):
        status, answer = handler.handle(f"SageMaker.{operation}", body)
        assert_aws_answer(status, answer, (operation, body))


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
