"""ResourceConfig.InstanceGroups, a heterogeneous cluster of two groups on real Docker: hosts
named algo-1..algo-N in group order, each with its group in resourceconfig.json, channels only
on the hosts of their InstanceGroupNames, every host resolving the others."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, job_log, toy_request, wait_for_job

pytestmark = pytest.mark.docker

# One line per host: its resourceconfig.json, the channel files it got, whether peers resolve.
PROBE = ("cfg=$(cat /opt/ml/input/config/resourceconfig.json); "
         "files=$(cd /opt/ml/input/data && find . -type f | sort | tr '\\n' ' '); "
         "peers=$(for h in algo-1 algo-2 algo-3; do getent hosts $h >/dev/null && echo -n $h,; "
         "done); echo \"PROBE $(hostname) $cfg | $files| $peers\"")


def test_two_instance_groups(endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str,
                             job_name: str) -> None:
    s3.put_object(Bucket=bucket, Key="raw/part-0", Body=b"0")
    s3.put_object(Bucket=bucket, Key="raw/part-1", Body=b"1")
    s3.put_object(Bucket=bucket, Key="conf/settings", Body=b"s")
    request = toy_request(job_name, spot=False, checkpoint_uri=None, bucket=bucket)
    request["ResourceConfig"] = {"VolumeSizeInGB": 1, "InstanceGroups": [
        {"InstanceGroupName": "trainers", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
        {"InstanceGroupName": "loaders", "InstanceType": "ml.m5.large", "InstanceCount": 2}]}
    request["InputDataConfig"] = [
        {"ChannelName": "raw", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/raw/",
            "S3DataDistributionType": "ShardedByS3Key", "InstanceGroupNames": ["loaders"]}}},
        {"ChannelName": "conf", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/conf/"}}}]
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sh", "-c", 'eval "$PROBE"']}
    request["Environment"] = {"PROBE": PROBE}  # too long for an entrypoint word
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ResourceConfig"]["InstanceGroups"] == request["ResourceConfig"]["InstanceGroups"]

    probes = {}
    for line in job_log(endpoint, job_name):
        if line.startswith("PROBE "):
            host, rest = line[len("PROBE "):].split(" ", 1)
            config, files, peers = rest.split(" | ", 1)[0], *rest.split(" | ", 1)[1].split("| ")
            probes[host] = (json.loads(config), files.split(), peers.strip())
    assert sorted(probes) == ["algo-1", "algo-2", "algo-3"]
    groups = [{"instance_group_name": "trainers", "instance_type": "ml.c5.xlarge",
               "hosts": ["algo-1"]},
              {"instance_group_name": "loaders", "instance_type": "ml.m5.large",
               "hosts": ["algo-2", "algo-3"]}]
    for host, group, kind in (("algo-1", "trainers", "ml.c5.xlarge"),
                              ("algo-2", "loaders", "ml.m5.large"),
                              ("algo-3", "loaders", "ml.m5.large")):
        config, _, peers = probes[host]
        assert config == {"current_host": host, "current_instance_type": kind,
                          "current_group_name": group,
                          "hosts": ["algo-1", "algo-2", "algo-3"], "instance_groups": groups,
                          "network_interface_name": "eth0"}
        assert peers == "algo-1,algo-2,algo-3,"
    # conf goes everywhere; raw only to the loaders, sharded between the two of them.
    assert probes["algo-1"][1] == ["./conf/settings"]
    assert probes["algo-2"][1] == ["./conf/settings", "./raw/part-0"]
    assert probes["algo-3"][1] == ["./conf/settings", "./raw/part-1"]
