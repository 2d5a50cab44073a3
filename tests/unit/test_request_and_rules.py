from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator import contract
from emulator.errors import EmulatorError, ValidationException
from emulator.faults.plan import parse_plan
from emulator.jobs.request import RunOptions, build_request, generated_job_name
from emulator.jobs.request_rules import check_create_rules
from emulator.jobs.settings import JobSettings, settings_from_tags


def test_flags_make_a_valid_spot_request() -> None:
    options = RunOptions(image="smemu-toy-trainer:latest", spot=True, max_wait=600,
                         checkpoint_s3_uri="s3://bucket/prefix",
                         hyperparameters={"total_steps": "10"})
    settings = JobSettings(plan=parse_plan("after=5s"), grace_period=10)
    request = build_request(options, settings)
    check_create_rules(request)
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 600}
    assert request["CheckpointConfig"] == {"S3Uri": "s3://bucket/prefix"}
    assert request["RoleArn"] == contract.DEFAULT_ROLE_ARN
    assert settings_from_tags(request["Tags"]) == settings
    assert len(request["TrainingJobName"]) <= 63


def test_flags_override_the_request_file(tmp_path: Path) -> None:
    file = tmp_path / "req.json"
    file.write_text(json.dumps({
        "TrainingJobName": "from-file",
        "AlgorithmSpecification": {"TrainingImage": "a", "TrainingInputMode": "File"},
        "HyperParameters": {"a": "1", "b": "2"},
        "Tags": [{"Key": "team", "Value": "ml"}],
    }))
    request = build_request(RunOptions(request_file=file, hyperparameters={"b": "3"}),
                            JobSettings())
    assert request["TrainingJobName"] == "from-file"
    assert request["HyperParameters"] == {"a": "1", "b": "3"}
    assert request["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_missing_image_and_bad_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match="--image"):
        build_request(RunOptions(), JobSettings())
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(EmulatorError, match="not valid JSON"):
        build_request(RunOptions(request_file=bad), JobSettings())


def test_generated_names_fit_the_name_pattern() -> None:
    import re

    name = generated_job_name("registry.local:5000/team/My_Image:tag" + "x" * 80)
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name


GROUPS = [{"InstanceGroupName": "a", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
          {"InstanceGroupName": "b", "InstanceType": "ml.m5.large", "InstanceCount": 2}]


def base(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 100},
    }
    request.update(changes)
    return request


@pytest.mark.parametrize(("request_", "message"), [
    (base(StoppingCondition={"MaxRuntimeInSeconds": 100, "MaxWaitTimeInSeconds": 200}),
     contract.MAX_WAIT_WITHOUT_SPOT),
    (base(EnableManagedSpotTraining=True), "MaxWaitTimeInSeconds is required"),
    (base(EnableManagedSpotTraining=True,
          StoppingCondition={"MaxRuntimeInSeconds": 100, "MaxWaitTimeInSeconds": 50}),
     "greater than or equal to MaxRuntimeInSeconds"),
    (base(AlgorithmSpecification={"TrainingImage": "i", "TrainingInputMode": "Pipe"}), "Pipe"),
    (base(AlgorithmSpecification={"TrainingInputMode": "File"}), "TrainingImage or AlgorithmName"),
    (base(AlgorithmSpecification={"TrainingImage": "i", "AlgorithmName": "xgboost",
                                  "TrainingInputMode": "File"}), "not both"),
    (base(InputDataConfig=[{"ChannelName": "t", "DataSource": {"FileSystemDataSource": {
        "FileSystemId": "fs-1", "FileSystemAccessMode": "ro", "FileSystemType": "EFS",
        "DirectoryPath": "/x"}}}]), "Channel 't': FileSystemDataSource"),
    (base(InputDataConfig=[{"ChannelName": "t", "CompressionType": "Gzip", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/p"}}}]),
     "CompressionType Gzip is used only in Pipe input mode"),
    (base(InputDataConfig=[{"ChannelName": "t", "DataSource": {}}]),
     "Channel 't' must specify a DataSource"),
    (base(CheckpointConfig={"S3Uri": "s3://b/c", "LocalPath": "ckpt"}),
     "LocalPath must be an absolute path, got 'ckpt'"),
    (base(ResourceConfig=None),
     "1 validation error detected: Value null at 'resourceConfig' failed to satisfy constraint: "
     "Member must not be null"),
    (base(ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 0, "VolumeSizeInGB": 1}),
     "Member must have value greater than or equal to 1"),
    (base(ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 17,
                          "VolumeSizeInGB": 1}),
     "InstanceCount 17 is more than smemu runs on one machine"),
    (base(ResourceConfig={"InstanceType": "ml.m5.large", "VolumeSizeInGB": 1,
                          "InstanceGroups": GROUPS}), "InstanceGroups, not both"),
    (base(ResourceConfig={"VolumeSizeInGB": 1, "InstanceGroups": GROUPS + GROUPS[:1]}),
     "Instance group names must be unique: a"),
    (base(ResourceConfig={"VolumeSizeInGB": 1, "InstanceGroups": [
        {"InstanceGroupName": "a", "InstanceType": "ml.m5.large", "InstanceCount": 9},
        {"InstanceGroupName": "b", "InstanceType": "ml.m5.large", "InstanceCount": 8}]}),
     "InstanceCount 17 is more than smemu runs on one machine"),
    (base(ResourceConfig={"VolumeSizeInGB": 1, "InstanceGroups": GROUPS},
          InputDataConfig=[{"ChannelName": "t", "DataSource": {"S3DataSource": {
              "S3DataType": "S3Prefix", "S3Uri": "s3://b/p", "InstanceGroupNames": ["c"]}}}]),
     "Channel 't' names instance groups that ResourceConfig.InstanceGroups does not have: c"),
])
def test_semantic_rules(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as info:
        check_create_rules(request_)
    assert message in info.value.message


def test_a_heterogeneous_cluster_is_accepted() -> None:
    check_create_rules(base(ResourceConfig={"VolumeSizeInGB": 1, "InstanceGroups": GROUPS}))


def test_spot_rules_accept_a_good_request() -> None:
    check_create_rules(base(EnableManagedSpotTraining=True,
                            StoppingCondition={"MaxRuntimeInSeconds": 100,
                                               "MaxWaitTimeInSeconds": 100}))


def test_explicit_flags_win_over_endpoint_defaults_even_when_default_valued() -> None:
    options = RunOptions(image="i", spot=True, max_wait=600)
    settings = JobSettings(grace_period=120, checkpoint_flush="flush")
    assert "Tags" not in build_request(options, settings)
    request = build_request(options, settings, explicit=["grace_period", "checkpoint_flush"])
    assert {t["Key"]: t["Value"] for t in request["Tags"]} == {
        "smemu:grace-period": "120s", "smemu:checkpoint-flush": "flush"}
    # An endpoint started with other defaults must still get the user's choice.
    lenient = JobSettings(grace_period=5, checkpoint_flush="lose")
    assert settings_from_tags(request["Tags"], lenient) == JobSettings()
