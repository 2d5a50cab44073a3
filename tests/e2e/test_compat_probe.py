"""What real clients do that the other compat tests did not cover (found by probing the
endpoint with the SDK v2 and the AWS CLI v1): each test is one gap, fixed."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.support.endpoint import EndpointProcess, toy_request, toy_value, wait_for_job

pytestmark = pytest.mark.docker

METRICS = [{"Name": "train:value", "Regex": r"value=(\d+)"},
           {"Name": "train:step", "Regex": r"step (\d+)/"}]


def _quick_job(name: str, bucket: str, steps: int = 4, **extra: Any) -> dict[str, Any]:
    request = toy_request(name, steps=steps, spot=False, checkpoint_uri=None, bucket=bucket,
                          seconds_per_step="0.05")
    request.update(extra)
    return request


def test_metric_definitions_are_cloudwatch_metrics_for_training_job_analytics(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SageMaker publishes every MetricDefinitions value to CloudWatch (namespace
    /aws/sagemaker/TrainingJobs, dimension TrainingJobName), where the SDK's
    `estimator.training_job_analytics` reads them; before, the SDK found none."""
    request = _quick_job(job_name, bucket, steps=6)
    request["AlgorithmSpecification"]["MetricDefinitions"] = METRICS
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed"
    assert [m["MetricName"] for m in job["FinalMetricDataList"]] == ["train:value", "train:step"]

    # The SDK's own request (sagemaker.analytics.TrainingJobAnalytics._fetch_metric).
    points = endpoint.client("cloudwatch").get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs", MetricName="train:step",
        Dimensions=[{"Name": "TrainingJobName", "Value": job_name}],
        StartTime=job["TrainingStartTime"] - datetime.timedelta(seconds=1),
        EndTime=job["TrainingEndTime"] + datetime.timedelta(minutes=1),
        Period=3600, Statistics=["Maximum", "SampleCount", "Minimum"])["Datapoints"]
    assert [(p["Minimum"], p["Maximum"], p["SampleCount"]) for p in points] == [(1.0, 6.0, 6.0)]

    import boto3
    import sagemaker as sagemaker_sdk  # declared test dependency: a broken install fails here

    for key, value in {"AWS_ENDPOINT_URL": endpoint.url, "AWS_ACCESS_KEY_ID": "test",
                       "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                       "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}.items():
        monkeypatch.setenv(key, value)
    session = sagemaker_sdk.Session(
        boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket,
        sagemaker_config={"SchemaVersion": "1.0", "SageMaker": {
            "PythonSDK": {"Modules": {"TelemetryOptOut": True}}}})
    frame = sagemaker_sdk.analytics.TrainingJobAnalytics(
        job_name, sagemaker_session=session, period=3600).dataframe()
    values = dict(zip(frame["metric_name"], frame["value"], strict=True))
    assert values["train:step"] == pytest.approx(3.5)  # the mean of steps 1..6
    assert set(values) == {"train:value", "train:step"}
    assert job["FinalMetricDataList"][0]["Value"] == float(toy_value(6))


def test_filter_log_events_honours_the_stream_name_prefix(endpoint: EndpointProcess,
                                                         sagemaker: Any, bucket: str,
                                                         job_name: str) -> None:
    """`aws logs filter-log-events --log-stream-name-prefix JOB/` returned every job's lines
    (moto ignores the prefix), and events came stream by stream instead of by time;
    GetLogEvents of a missing stream said the group did not exist."""
    other = f"{job_name}-other"
    for name in (job_name, other):
        sagemaker.create_training_job(**_quick_job(name, bucket))
    for name in (job_name, other):
        assert wait_for_job(sagemaker, name)["TrainingJobStatus"] == "Completed"
    logs = endpoint.client("logs")
    group = "/aws/sagemaker/TrainingJobs"

    events = logs.filter_log_events(logGroupName=group, logStreamNamePrefix=f"{job_name}/",
                                    filterPattern="complete")["events"]
    assert [e["logStreamName"].split("/")[0] for e in events] == [job_name]
    both = logs.filter_log_events(logGroupName=group, logStreamNamePrefix=job_name)["events"]
    assert {e["logStreamName"].split("/")[0] for e in both} == {job_name, other}
    assert [e["timestamp"] for e in both] == sorted(e["timestamp"] for e in both)
    none = logs.filter_log_events(logGroupName=group, logStreamNamePrefix=f"{job_name}-none")
    assert none["events"] == []
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=group, logStreamNamePrefix=job_name,
                               logStreamNames=["x"])
    # A mistyped stream of an existing group: moto blamed the group.
    with pytest.raises(logs.exceptions.ResourceNotFoundException,
                       match=r"The specified log stream does not exist\."):
        logs.get_log_events(logGroupName=group, logStreamName=f"{job_name}/algo-1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException,
                       match=r"The specified log group does not exist\."):
        logs.get_log_events(logGroupName=group + "-none", logStreamName=f"{job_name}/algo-1")

    aws = str(Path(sys.executable).parent / "aws")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    result = subprocess.run(
        [aws, "--endpoint-url", endpoint.url, "logs", "filter-log-events", "--log-group-name",
         group, "--log-stream-name-prefix", f"{other}/", "--filter-pattern", "complete",
         "--query", "events[].logStreamName", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [s.split("/")[0] for s in json.loads(result.stdout)] == [other]


def _raw_describe(endpoint: EndpointProcess, name: str) -> dict[str, Any]:
    """DescribeTrainingJob as it is on the wire (botocore would drop unknown members)."""
    request = urllib.request.Request(
        endpoint.url + "/", data=json.dumps({"TrainingJobName": name}).encode(),
        headers={"X-Amz-Target": "SageMaker.DescribeTrainingJob",
                 "Content-Type": "application/x-amz-json-1.1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def _shape_errors(shape: Any, value: Any, path: str) -> list[str]:
    """Where value breaks botocore's output shape: missing required members, members the
    shape does not have, wrong JSON types, enum values outside the set."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        errors = [f"{path}.{m}: required, missing" for m in shape.required_members
                  if m not in value]
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
    request = _quick_job(job_name, bucket, steps=20,
                         ProfilerRuleConfigurations=rules,
                         VpcConfig={"SecurityGroupIds": ["sg-12345678"],
                                    "Subnets": ["subnet-12345678"]},
                         RetryStrategy={"MaximumRetryAttempts": 1},
                         CheckpointConfig={"S3Uri": f"s3://{bucket}/ckpt/{job_name}"},
                         Environment={"MODE": "probe"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = METRICS
    sagemaker.create_training_job(**request)
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for(
        "DescribeTrainingJobResponse")
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        wire = _raw_describe(endpoint, job_name)
        assert _shape_errors(shape, wire, "DescribeTrainingJob") == [], wire
        seen.add(wire["SecondaryStatus"])
        if wire["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.1)
    assert wire["TrainingJobStatus"] == "Completed", wire.get("FailureReason")
    assert {"Starting", "Completed"} <= seen
    assert wire["ProfilerRuleConfigurations"] == rules
    assert isinstance(wire["TrainingTimeInSeconds"], int)
    assert all(isinstance(m["Timestamp"], float) for m in wire["FinalMetricDataList"])


def test_a_nan_metric_never_reaches_the_wire(endpoint: EndpointProcess, sagemaker: Any,
                                             bucket: str, job_name: str) -> None:
    """`loss=nan` in the logs made FinalMetricDataList carry NaN, which JSON has no word for
    (strict parsers, e.g. other AWS SDKs', refuse the body) and CloudWatch refuses."""
    request = _quick_job(job_name, bucket)
    request["AlgorithmSpecification"].update(
        ContainerEntrypoint=["sh", "-c", "echo loss=0.5; echo loss=nan; echo loss=inf"],
        MetricDefinitions=[{"Name": "loss", "Regex": r"loss=(\S+)"}])
    sagemaker.create_training_job(**request)
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Completed"

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    request_body = json.dumps({"TrainingJobName": job_name}).encode()
    raw = urllib.request.Request(endpoint.url + "/", data=request_body, headers={
        "X-Amz-Target": "SageMaker.DescribeTrainingJob",
        "Content-Type": "application/x-amz-json-1.1"})
    with urllib.request.urlopen(raw, timeout=10) as response:
        wire = json.loads(response.read(), parse_constant=refuse)
    assert [(m["MetricName"], m["Value"]) for m in wire["FinalMetricDataList"]] == [
        ("loss", 0.5)]
