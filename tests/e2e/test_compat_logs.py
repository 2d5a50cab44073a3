"""CloudWatch Logs as AWS answers them where moto does not: FilterLogEvents honours
logStreamNamePrefix and interleaves streams by time, GetLogEvents names the missing stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, quick_toy_request, wait_for_job

pytestmark = pytest.mark.docker


def test_filter_log_events_honours_the_stream_name_prefix(endpoint: EndpointProcess,
                                                         sagemaker: Any, bucket: str,
                                                         job_name: str) -> None:
    """`aws logs filter-log-events --log-stream-name-prefix JOB/` returned every job's lines
    (moto ignores the prefix), and events came stream by stream instead of by time;
    GetLogEvents of a missing stream said the group did not exist."""
    other = f"{job_name}-other"
    for name in (job_name, other):
        sagemaker.create_training_job(**quick_toy_request(name, bucket))
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
