"""MetricDefinitions as SageMaker treats them: CloudWatch metrics (namespace
/aws/sagemaker/TrainingJobs, dimension TrainingJobName) that the SDK's training_job_analytics
reads, FinalMetricDataList in definition order, and no NaN/inf ever on the wire."""

from __future__ import annotations

import datetime
import json
import urllib.request
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, quick_toy_request, toy_value, wait_for_job

pytestmark = pytest.mark.docker

METRICS = [{"Name": "train:value", "Regex": r"value=(\d+)"},
           {"Name": "train:step", "Regex": r"step (\d+)/"}]


def test_metric_definitions_are_cloudwatch_metrics_for_training_job_analytics(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SageMaker publishes every MetricDefinitions value to CloudWatch (namespace
    /aws/sagemaker/TrainingJobs, dimension TrainingJobName), where the SDK's
    `estimator.training_job_analytics` reads them; before, the SDK found none."""
    request = quick_toy_request(job_name, bucket, steps=6)
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


def test_a_nan_metric_never_reaches_the_wire(endpoint: EndpointProcess, sagemaker: Any,
                                             bucket: str, job_name: str) -> None:
    """`loss=nan` in the logs made FinalMetricDataList carry NaN, which JSON has no word for
    (strict parsers, e.g. other AWS SDKs', refuse the body) and CloudWatch refuses."""
    request = quick_toy_request(job_name, bucket)
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
