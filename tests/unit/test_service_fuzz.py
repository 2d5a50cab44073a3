"""Seeded fuzzing of the wire adapter: no body, however wrong, gets a 5xx."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from emulator.api.sagemaker import SageMakerHandler
from tests.unit._s3server import MotoS3
from tests.unit.test_service_operations import GOOD, add_job, make_service

NASTY: list[Any] = [
    None, "", " ", "x" * 3000, "bad_name", "\u0000", "\udcff", "ü" * 70, "s3://", "s3://a b/c",
    "arn:aws:sagemaker:us-east-1:123456789012:training-job/fuzz", 0, -1, 1, 2**31, 2**63,
    10**400, 1.5, -0.0, 1e308, float("inf"), float("nan"), True, False, [], [None], [{}],
    {}, {"": ""}, {"Key": "k"}, [[[]]], {"a": {"b": {"c": []}}},
]
OPERATIONS = ["CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob",
              "DeleteTrainingJob", "AddTags", "ListTags", "DeleteTags"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += _paths(sub, (*prefix, index))
    return out


def _mutate(request: dict[str, Any], rng: random.Random) -> Any:
    paths = _paths(request)[1:]
    if not paths:
        return request
    path = rng.choice(paths)
    node: Any = request
    for key in path[:-1]:
        node = node[key]
    if rng.random() < 0.15 and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(rng.choice(NASTY))
    return request


def _base(operation: str, rng: random.Random) -> dict[str, Any]:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/existing"
    bases: dict[str, dict[str, Any]] = {
        "CreateTrainingJob": {**GOOD, "TrainingJobName": f"fuzz{rng.randrange(10**6)}",
                              "Tags": [{"Key": "a", "Value": "b"}],
                              "HyperParameters": {"k": "v"}, "Environment": {"E": "1"},
                              "InputDataConfig": [{"ChannelName": "train", "DataSource": {
                                  "S3DataSource": {"S3DataType": "S3Prefix",
                                                   "S3Uri": "s3://there/d"}}}]},
        "DescribeTrainingJob": {"TrainingJobName": "existing"},
        "ListTrainingJobs": {"MaxResults": 5, "NextToken": "eyJpIjogMX0=", "SortBy": "Name",
                             "CreationTimeAfter": 0, "NameContains": "ex"},
        "StopTrainingJob": {"TrainingJobName": "existing"},
        "DeleteTrainingJob": {"TrainingJobName": "existing"},
        "AddTags": {"ResourceArn": arn, "Tags": [{"Key": "a", "Value": "b"}]},
        "ListTags": {"ResourceArn": arn, "MaxResults": 50},
        "DeleteTags": {"ResourceArn": arn, "TagKeys": ["a"]},
    }
    return copy.deepcopy(bases[operation])


@pytest.mark.parametrize("seed", range(int(__import__("os").environ.get("FUZZ_SEEDS", "6"))))
def test_fuzzed_requests_never_get_5xx(tmp_path: Path, s3: MotoS3, seed: int) -> None:
    service = make_service(tmp_path, s3)  # its runners run nothing: the answers are the point
    add_job(service, "existing")
    handler = SageMakerHandler(service)
    rng = random.Random(seed)
    for _ in range(150):
        operation = rng.choice(OPERATIONS)
        request = _base(operation, rng)
        for _ in range(rng.randint(1, 3)):
            request = _mutate(request, rng)
        body = json.dumps(request).encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:
            body = body[: rng.randrange(len(body) + 1)]
        status, answer = handler.handle(f"SageMaker.{operation}", body)
        assert status < 500, (operation, request, answer)
        assert status == 200 or (answer.get("__type") and answer.get("message")), answer
        if status == 200 and operation == "CreateTrainingJob":  # what was accepted renders
            name = json.dumps({"TrainingJobName": request["TrainingJobName"]}).encode()
            for then in ("DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob"):
                status, answer = handler.handle(f"SageMaker.{then}", name)
                assert status == 200, (then, request, answer)
