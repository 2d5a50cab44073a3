"""DescribeTrainingJob on the wire is botocore's DescribeTrainingJobResponse shape in every
state: the required members, nothing outside the shape, JSON types, enum values, echoed request
members."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import botocore.session
import pytest

from tests.support.endpoint import EndpointProcess, quick_toy_request

pytestmark = pytest.mark.docker

METRICS = [{"Name": "train:value", "Regex": r"value=(\d+)"},
           {"Name": "train:step", "Regex": r"step (\d+)/"}]


def _raw_describe(endpoint: EndpointProcess, name: str) -> dict[str, Any]:
    """DescribeTrainingJob as it is on the wire (botocore would drop unknown members)."""
    request = urllib.request.Request(
        endpoint.url + "/", data=json.dumps({"TrainingJobName": name}).encode(),
        headers={"X-Amz-Target": "SageMaker.DescribeTrainingJob",
                 "Content-Type": "application/x-amz-json-1.1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


# Required in botocore's model, yet AWS sends it null until a model exists (a job still
# Starting, or one that wrote none: see emulator/jobs/describe.py for the recorded responses),
# so it may be missing before model.tar.gz is written; the test checks it is there after.
ABSENT_UNTIL_THE_MODEL_EXISTS = "DescribeTrainingJob.ModelArtifacts"


def _shape_errors(shape: Any, value: Any, path: str,
                  may_be_absent: frozenset[str] = frozenset()) -> list[str]:
    """Where value breaks botocore's output shape: missing required members (except those in
    ``may_be_absent``, dotted paths), members the shape does not have, wrong JSON types, enum
    values outside the set."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        errors = [f"{path}.{m}: required, missing" for m in shape.required_members
                  if m not in value and f"{path}.{m}" not in may_be_absent]
        for key, item in value.items():
            if key not in shape.members:
                errors.append(f"{path}.{key}: not in the shape")
            else:
                errors += _shape_errors(shape.members[key], item, f"{path}.{key}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [e for i, v in enumerate(value) for e in _shape_errors(shape.member, v,
                                                                       f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: not a map"]
        return [e for k, v in value.items() for e in _shape_errors(shape.value, v,
                                                                    f"{path}[{k}]")]
    expected: dict[str, tuple[type, ...]] = {
        "string": (str,), "boolean": (bool,), "integer": (int,), "long": (int,),
        "float": (int, float), "double": (int, float), "timestamp": (int, float)}
    if kind in expected and (not isinstance(value, expected[kind]) or (
            kind != "boolean" and isinstance(value, bool))):
        return [f"{path}: {value!r} is not a {kind}"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} not in {shape.enum}"]
    return []


def test_describe_training_job_is_botocore_output_shape_in_every_state(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    """Every member DescribeTrainingJob sends is in DescribeTrainingJobResponse with its type,
    the required ones always, while running and at the end; request members AWS echoes
    (ProfilerRuleConfigurations among them) come back."""
    rules = [{"RuleConfigurationName": "ProfilerReport",
              "RuleEvaluatorImage": "smemu-toy-trainer:latest",
              "RuleParameters": {"rule_to_invoke": "ProfilerReport"}}]
    request = quick_toy_request(job_name, bucket, steps=20,
                         ProfilerRuleConfigurations=rules,
                         VpcConfig={"SecurityGroupIds": ["sg-12345678"],
                                    "Subnets": ["subnet-12345678"]},
                         RetryStrategy={"MaximumRetryAttempts": 1},
                         CheckpointConfig={"S3Uri": f"s3://{bucket}/ckpt/{job_name}"},
                         Environment={"MODE": "probe"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = METRICS
    # A spot job that waits 2 s for capacity: Starting is seen by the polls for sure (a plain
    # start now takes well under the 0.1 s poll, and CI missed it).
    request["EnableManagedSpotTraining"] = True
    request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 900
    request["Tags"] = [{"Key": "smemu:interrupt", "Value": "wait=2s"}]
    sagemaker.create_training_job(**request)
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for(
        "DescribeTrainingJobResponse")
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        wire = _raw_describe(endpoint, job_name)
        ended = wire["TrainingJobStatus"] in ("Completed", "Failed", "Stopped")
        exempt = frozenset() if ended else frozenset({ABSENT_UNTIL_THE_MODEL_EXISTS})
        assert _shape_errors(shape, wire, "DescribeTrainingJob", exempt) == [], wire
        seen.add(wire["SecondaryStatus"])
        if wire["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.1)
    assert wire["TrainingJobStatus"] == "Completed", wire.get("FailureReason")
    model = wire["ModelArtifacts"]["S3ModelArtifacts"]  # written now: advertised, and real
    bucket_name, _, key = model.removeprefix("s3://").partition("/")
    assert endpoint.client("s3").head_object(Bucket=bucket_name, Key=key)["ContentLength"] > 0
    assert {"Starting", "Completed"} <= seen
    assert wire["ProfilerRuleConfigurations"] == rules
    assert isinstance(wire["TrainingTimeInSeconds"], int)
    assert all(isinstance(m["Timestamp"], float) for m in wire["FinalMetricDataList"])
