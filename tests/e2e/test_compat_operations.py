"""Every training-job operation through boto3, as a user's code calls it, against the endpoint."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import urllib.request
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, toy_value, wait_for_job

pytestmark = pytest.mark.docker

METRICS = [{"Name": "train:step", "Regex": r"step (\d+)/"},
           {"Name": "train:value", "Regex": r"value=([0-9.]+)"}]
# What the contract says DescribeTrainingJob holds for a finished container job.
FINISHED_FIELDS = {
    "TrainingJobName", "TrainingJobArn", "ModelArtifacts", "TrainingJobStatus", "SecondaryStatus",
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "OutputDataConfig", "ResourceConfig",
    "StoppingCondition", "CreationTime", "TrainingStartTime", "TrainingEndTime",
    "LastModifiedTime", "SecondaryStatusTransitions", "FinalMetricDataList",
    "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining", "CheckpointConfig", "TrainingTimeInSeconds",
    "BillableTimeInSeconds", "Environment", "RetryStrategy",
}


def raw_describe(endpoint: EndpointProcess, name: str) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint.url + "/", data=json.dumps({"TrainingJobName": name}).encode(), method="POST",
        headers={"X-Amz-Target": "SageMaker.DescribeTrainingJob",
                 "Content-Type": "application/x-amz-json-1.1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_job_lifecycle_describe_tags_stop_delete(endpoint: EndpointProcess, sagemaker: Any,
                                                 bucket: str, job_name: str) -> None:
    request = toy_request(job_name, steps=6, bucket=bucket, checkpoint_uri=f"s3://{bucket}/c",
                          tags=[{"Key": "team", "Value": "ml"}])
    request["AlgorithmSpecification"]["MetricDefinitions"] = METRICS
    request["Environment"] = {"MY_SETTING": "1"}
    request["RetryStrategy"] = {"MaximumRetryAttempts": 2}
    created = sagemaker.create_training_job(**request)
    arn = created["TrainingJobArn"]
    assert created["ResponseMetadata"]["RequestId"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job_name.lower()}"

    with pytest.raises(sagemaker.exceptions.ResourceInUse) as dup:
        sagemaker.create_training_job(**request)
    assert dup.value.response["Error"]["Message"] == (
        "Training job names must be unique within an AWS account and region, and a training "
        f"job with this name already exists ({arn})")
    with pytest.raises(sagemaker.exceptions.ClientError, match="status InProgress"):
        sagemaker.delete_training_job(TrainingJobName=job_name)

    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job_name, WaiterConfig={"Delay": 1, "MaxAttempts": 240})
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert set(job) >= FINISHED_FIELDS, FINISHED_FIELDS - set(job)
    for key in ("HyperParameters", "Environment", "RetryStrategy", "RoleArn"):
        assert job[key] == request[key]
    assert job["CheckpointConfig"]["S3Uri"] == request["CheckpointConfig"]["S3Uri"]
    assert job["StoppingCondition"] == request["StoppingCondition"]
    assert job["ResourceConfig"] == request["ResourceConfig"]
    assert job["AlgorithmSpecification"]["MetricDefinitions"] == METRICS
    assert job["EnableManagedSpotTraining"] is True
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://{bucket}/output/{job_name}/output/model.tar.gz")
    assert job["SecondaryStatus"] == "Completed"
    assert all(t["StatusMessage"] for t in job["SecondaryStatusTransitions"])
    assert job["CreationTime"] <= job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert job["BillableTimeInSeconds"] <= job["TrainingTimeInSeconds"]
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert metrics == {"train:step": 6.0, "train:value": float(toy_value(6))}
    assert all(isinstance(m["Timestamp"], dt.datetime) for m in job["FinalMetricDataList"])

    wire = raw_describe(endpoint, job_name)  # times are epoch seconds on the wire
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"):
        assert isinstance(wire[key], (int, float)) and wire[key] > 1.6e9, key
    assert all(isinstance(t["StartTime"], (int, float))
               for t in wire["SecondaryStatusTransitions"])

    with pytest.raises(sagemaker.exceptions.ClientError) as stop:
        sagemaker.stop_training_job(TrainingJobName=job_name)
    assert stop.value.response["Error"]["Message"] == (
        "The request was rejected because the training job is in status Completed.")

    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "test"}])
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "test"}]

    sagemaker.delete_training_job(TrainingJobName=job_name)
    with pytest.raises(sagemaker.exceptions.ClientError, match="Requested resource not found"):
        sagemaker.describe_training_job(TrainingJobName=job_name)
    # The name is free again: a new job under it starts (and is stopped at once).
    sagemaker.create_training_job(**{**request, "HyperParameters": {"total_steps": "1000"}})
    sagemaker.stop_training_job(TrainingJobName=job_name)
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Stopped"
    sagemaker.delete_training_job(TrainingJobName=job_name)


def test_list_training_jobs_filters_sort_and_pages(sagemaker: Any, bucket: str,
                                                   job_name: str) -> None:
    names = [f"{job_name}-{suffix}" for suffix in ("c", "a", "b")]
    created: list[dt.datetime] = []
    for name in names:
        if len(created) == 2:  # botocore sends whole seconds: put a second boundary before b
            boundary = math.ceil(created[1].timestamp())
            time.sleep(max(0.0, boundary - time.time() + 0.05))
        sagemaker.create_training_job(**toy_request(name, steps=1, bucket=bucket, spot=False,
                                                    checkpoint_uri=None))
        created.append(sagemaker.describe_training_job(TrainingJobName=name)["CreationTime"])
        time.sleep(0.01)
    between = dt.datetime.fromtimestamp(boundary, dt.timezone.utc)
    for name in names:
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 240})

    def listed(**params: Any) -> list[str]:
        return [s["TrainingJobName"] for s in
                sagemaker.list_training_jobs(NameContains=job_name, **params)
                ["TrainingJobSummaries"]]

    assert listed() == names  # CreationTime, Ascending by default
    assert listed(SortBy="Name", SortOrder="Descending") == sorted(names, reverse=True)
    assert listed(SortBy="CreationTime", SortOrder="Descending") == names[::-1]
    assert listed(StatusEquals="Completed") == names
    assert listed(StatusEquals="InProgress") == []
    assert listed(CreationTimeAfter=between) == names[2:]
    assert listed(CreationTimeBefore=between) == names[:2]
    assert listed(LastModifiedTimeAfter=dt.datetime.now(dt.timezone.utc)
                  + dt.timedelta(hours=1)) == []
    assert listed(LastModifiedTimeBefore=dt.datetime.now(dt.timezone.utc)
                  + dt.timedelta(hours=1)) == names

    first = sagemaker.list_training_jobs(NameContains=job_name, MaxResults=2)
    assert len(first["TrainingJobSummaries"]) == 2 and first["NextToken"]
    second = sagemaker.list_training_jobs(NameContains=job_name, MaxResults=2,
                                          NextToken=first["NextToken"])
    assert "NextToken" not in second
    paged = [s["TrainingJobName"]
             for page in sagemaker.get_paginator("list_training_jobs").paginate(
                 NameContains=job_name, PaginationConfig={"PageSize": 1})
             for s in page["TrainingJobSummaries"]]
    assert paged == names
    summary = first["TrainingJobSummaries"][0]
    assert set(summary) == {"TrainingJobName", "TrainingJobArn", "CreationTime",
                            "TrainingEndTime", "LastModifiedTime", "TrainingJobStatus",
                            "SecondaryStatus"}
    for name in names:
        sagemaker.delete_training_job(TrainingJobName=name)
    assert listed() == []


def test_waiter_fails_on_failed_job(sagemaker: Any, bucket: str, job_name: str) -> None:
    from botocore.exceptions import WaiterError

    sagemaker.create_training_job(**toy_request(job_name, steps=5, bucket=bucket, spot=False,
                                                checkpoint_uri=None, fail_at_step="2"))
    with pytest.raises(WaiterError, match="Failed"):
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=job_name, WaiterConfig={"Delay": 1, "MaxAttempts": 240})
