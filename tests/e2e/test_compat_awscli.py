"""The AWS CLI (awscli from PyPI) against the endpoint, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job, wait_for_status

pytestmark = pytest.mark.docker

AWS = str(Path(sys.executable).parent / "aws")


def aws(endpoint: EndpointProcess, tmp_path: Path, *args: str,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_PAGER": ""}
    env.pop("AWS_PROFILE", None)
    result = subprocess.run([AWS, "--endpoint-url", endpoint.url, "--output", "json", *args],
                            env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_cli_input_json_create_describe_list_stop(endpoint: EndpointProcess, sagemaker: Any,
                                                  bucket: str, job_name: str,
                                                  tmp_path: Path) -> None:
    request = toy_request(job_name, steps=2000, bucket=bucket,
                          checkpoint_uri=f"s3://{bucket}/ckpt/{job_name}")
    request_file = tmp_path / "job.json"
    request_file.write_text(json.dumps(request, indent=2))

    created = as_json(aws(endpoint, tmp_path, "sagemaker", "create-training-job",
                          "--cli-input-json", f"file://{request_file}"))
    assert created["TrainingJobArn"].endswith(f"training-job/{job_name.lower()}")

    duplicate = aws(endpoint, tmp_path, "sagemaker", "create-training-job", "--cli-input-json",
                    f"file://{request_file}", check=False)
    assert duplicate.returncode != 0
    assert "(ResourceInUse)" in duplicate.stderr and "already exists" in duplicate.stderr

    wait_for_status(sagemaker, job_name, "Training")
    described = as_json(aws(endpoint, tmp_path, "sagemaker", "describe-training-job",
                            "--training-job-name", job_name))
    assert described["TrainingJobStatus"] == "InProgress"
    assert described["HyperParameters"] == request["HyperParameters"]
    assert described["EnableManagedSpotTraining"] is True

    listed = as_json(aws(endpoint, tmp_path, "sagemaker", "list-training-jobs",
                         "--name-contains", job_name, "--status-equals", "InProgress"))
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == [job_name]

    aws(endpoint, tmp_path, "sagemaker", "stop-training-job", "--training-job-name", job_name)
    wait_for_job(sagemaker, job_name)  # the CLI's waiter sleeps 120 s between its polls
    aws(endpoint, tmp_path, "sagemaker", "wait", "training-job-completed-or-stopped",
        "--training-job-name", job_name)
    stopped = as_json(aws(endpoint, tmp_path, "sagemaker", "describe-training-job",
                          "--training-job-name", job_name, "--query",
                          "[TrainingJobStatus, SecondaryStatus]"))
    assert stopped == ["Stopped", "Stopped"]

    again = aws(endpoint, tmp_path, "sagemaker", "stop-training-job", "--training-job-name",
                job_name, check=False)
    assert again.returncode != 0
    assert "The request was rejected because the training job is in status Stopped." \
        in again.stderr

    tags = as_json(aws(endpoint, tmp_path, "sagemaker", "list-tags", "--resource-arn",
                       created["TrainingJobArn"]))
    assert tags == {"Tags": []}
    aws(endpoint, tmp_path, "sagemaker", "delete-training-job", "--training-job-name", job_name)
    missing = aws(endpoint, tmp_path, "sagemaker", "describe-training-job",
                  "--training-job-name", job_name, check=False)
    assert "(ValidationException)" in missing.stderr
    assert "Requested resource not found." in missing.stderr


def test_cli_reports_bad_request_as_the_service_does(endpoint: EndpointProcess, bucket: str,
                                                     tmp_path: Path) -> None:
    request = toy_request("bad_name", bucket=bucket, checkpoint_uri=None)
    request_file = tmp_path / "bad.json"
    request_file.write_text(json.dumps(request))
    result = aws(endpoint, tmp_path, "sagemaker", "create-training-job", "--cli-input-json",
                 f"file://{request_file}", check=False)
    assert result.returncode != 0
    assert "(ValidationException)" in result.stderr
    assert "Value 'bad_name' at 'trainingJobName' failed to satisfy constraint" in result.stderr


def test_aws_cli_reads_the_job_logs(endpoint: EndpointProcess, sagemaker: Any, bucket: str,
                                    job_name: str, tmp_path: Path) -> None:
    sagemaker.create_training_job(**toy_request(job_name, steps=3, checkpoint_uri=None,
                                                bucket=bucket, spot=False))
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Completed"
    group = "/aws/sagemaker/TrainingJobs"
    streams = as_json(aws(endpoint, tmp_path, "logs", "describe-log-streams",
                          "--log-group-name", group,
                          "--log-stream-name-prefix", f"{job_name}/"))["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{job_name}/algo-1-")
    events = as_json(aws(endpoint, tmp_path, "logs", "get-log-events", "--log-group-name", group,
                         "--log-stream-name", streams[0]["logStreamName"],
                         "--start-from-head"))["events"]
    assert "training complete: step 3" in "\n".join(e["message"] for e in events)
