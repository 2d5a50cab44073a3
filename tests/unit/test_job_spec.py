"""The typed job spec: parsed once from the validated request, read by everything below the
service (which no longer reads the request dict)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from emulator.contract import DataDistribution
from emulator.faults.plan import parse_plan
from emulator.jobs.settings import CheckpointFlush, JobSettings
from emulator.jobs.spec import (
    Channel,
    CheckpointSpec,
    MetricDefinition,
    Resources,
    StoppingCondition,
    parse_spec,
)
from emulator.runtime.staging import ContainerConfig

FULL: dict[str, Any] = {
    "TrainingJobName": "full-job",
    "AlgorithmSpecification": {
        "TrainingImage": "img:1", "TrainingInputMode": "FastFile",
        "ContainerEntrypoint": ["python", "-m", "train"], "ContainerArguments": ["--x", "1"],
        "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}],
    },
    "RoleArn": "arn:aws:iam::123456789012:role/R",
    "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
    "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 3, "VolumeSizeInGB": 7},
    "StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200},
    "EnableManagedSpotTraining": True,
    "EnableNetworkIsolation": True,
    "CheckpointConfig": {"S3Uri": "s3://b/ckpt", "LocalPath": "/ckpt"},
    "InputDataConfig": [
        {"ChannelName": "train", "ContentType": "text/csv", "InputMode": "File",
         "RecordWrapperType": "RecordIO",
         "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m",
                                         "S3DataDistributionType": "ShardedByS3Key"}}},
        {"ChannelName": "eval",
         "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/e"}}},
    ],
    "HyperParameters": {"epochs": "3"},
    "Environment": {"A": "b"},
    "RetryStrategy": {"MaximumRetryAttempts": 2},
    "Tags": [{"Key": "smemu:grace-period", "Value": "5s"}],
}


def test_every_member_is_read_once_into_its_typed_field() -> None:
    settings = JobSettings(plan=parse_plan("after=5s"), grace_period=5, checkpoint_flush="lose")
    spec = parse_spec(FULL, settings)
    assert (spec.name, spec.image, spec.output_path) == ("full-job", "img:1", "s3://b/out")
    assert spec.resources == Resources("ml.c5.xlarge", 3, 7)
    assert spec.hosts == ("algo-1", "algo-2", "algo-3")
    assert spec.stopping == StoppingCondition(600, 1200)
    assert (spec.max_runtime, spec.max_wait) == (600.0, 1200.0)
    assert spec.spot and spec.network_isolation
    assert spec.checkpoint == CheckpointSpec("s3://b/ckpt", "/ckpt")
    assert spec.checkpoint_uri == "s3://b/ckpt"
    assert spec.channels == (
        Channel(name="train", input_mode="File",
                distribution=DataDistribution.SHARDED_BY_S3_KEY, content_type="text/csv",
                record_wrapper_type="RecordIO", s3_uri="s3://b/m", s3_data_type="ManifestFile"),
        Channel(name="eval", input_mode="FastFile", s3_uri="s3://b/e"),
    )
    assert spec.channels[0].sharded and not spec.channels[1].sharded
    assert spec.environment == {"A": "b"} and spec.hyperparameters == {"epochs": "3"}
    assert spec.entrypoint == ("python", "-m", "train") and spec.arguments == ("--x", "1")
    assert spec.metric_definitions == (MetricDefinition("loss", "loss=([0-9.]+)"),)
    assert spec.settings is settings
    assert spec.settings.checkpoint_flush is CheckpointFlush.LOSE
    assert spec.container_config() == ContainerConfig(
        hosts=("algo-1", "algo-2", "algo-3"), instance_type="ml.c5.xlarge",
        hyperparameters={"epochs": "3"}, channels=spec.channels, checkpoint_path="/ckpt",
        checkpoint_uri="s3://b/ckpt")
    assert spec.retry_attempts == 2


def test_absent_members_take_sagemakers_defaults() -> None:
    spec = parse_spec({"TrainingJobName": "bare", "CheckpointConfig": {"S3Uri": "s3://b/c"},
                       "InputDataConfig": [{"ChannelName": "c", "DataSource": {
                           "S3DataSource": {"S3Uri": "s3://b/d"}}}]})
    assert spec.resources == Resources("ml.m5.large", 1, 0) and spec.hosts == ("algo-1",)
    assert spec.stopping == StoppingCondition(86400, None)
    assert not spec.spot and not spec.network_isolation
    assert spec.checkpoint == CheckpointSpec("s3://b/c", "/opt/ml/checkpoints/")
    (channel,) = spec.channels
    assert (channel.input_mode, channel.distribution, channel.record_wrapper_type,
            channel.content_type, channel.s3_data_type) == \
        ("File", DataDistribution.FULLY_REPLICATED, "None", None, "S3Prefix")
    assert spec.entrypoint is None and spec.arguments is None
    assert spec.settings == JobSettings()
    assert parse_spec({"TrainingJobName": "x"}).checkpoint is None
    assert parse_spec({"TrainingJobName": "x"}).checkpoint_uri is None


def test_max_wait_belongs_to_spot_jobs_only() -> None:
    on_demand = {**FULL, "EnableManagedSpotTraining": False}
    assert parse_spec(on_demand).max_wait is None
    assert parse_spec(on_demand).stopping.max_wait_seconds == 1200  # as the request says


def test_hyperparameter_and_environment_values_are_strings() -> None:
    spec = parse_spec({"TrainingJobName": "x", "HyperParameters": {"lr": 0.1, "n": 3},
                       "Environment": {"K": 1}})
    assert dict(spec.hyperparameters) == {"lr": "0.1", "n": "3"}
    assert dict(spec.environment) == {"K": "1"}


def test_the_spec_is_frozen_and_keeps_its_own_copy_of_the_request() -> None:
    request = {**FULL, "HyperParameters": {"epochs": "3"}}
    spec = parse_spec(request)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.image = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.hyperparameters["epochs"] = "4"  # type: ignore[index]
    request["HyperParameters"]["epochs"] = "9"
    assert spec.request["HyperParameters"] == {"epochs": "3"}
    assert spec.hyperparameters["epochs"] == "3"


# -- nothing below the service reads the request ---------------------------------------------
EMULATOR = Path(__file__).resolve().parents[2] / "emulator"
# The clients' request builder, the service and what it calls before the spec exists (rules,
# the host paths a request names),
# the spec itself (and the model that hands its request on), DescribeTrainingJob (which echoes
# the request) and the history (which stores the request the spec is parsed from) may read
# request members.
ABOVE_THE_SPEC = {"jobs/request.py", "jobs/service.py", "jobs/request_rules.py", "jobs/spec.py",
                  "jobs/describe.py", "jobs/model.py", "jobs/history.py", "jobs/host_paths.py"}
BELOW_THE_SERVICE = ("jobs", "runtime", "storage", "faults", "checkpoints")
# Same names, other meanings: CloudWatch's metric dimension.
OTHER_MEANINGS = {"TrainingJobName"}


def _request_members() -> set[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateTrainingJob").input_shape
    return set(shape.members) - OTHER_MEANINGS


def _reads_of_the_request(path: Path, members: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in members:
            found.append(f"{path.name}:{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr == "request" and \
                id(node) not in called:
            found.append(f"{path.name}:{node.lineno}: .request")
    return found


def test_nothing_below_the_service_reads_the_request_dict() -> None:
    members = _request_members()
    assert {"CheckpointConfig", "AlgorithmSpecification", "ResourceConfig"} <= members
    found = [hit for package in BELOW_THE_SERVICE for path in sorted((EMULATOR / package)
             .rglob("*.py")) if path.relative_to(EMULATOR).as_posix() not in ABOVE_THE_SPEC
             for hit in _reads_of_the_request(path, members)]
    assert found == []


def test_the_request_guard_sees_a_read(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text('uri = job.request["CheckpointConfig"]["S3Uri"]\n'
                     'page = pool.request("GET", "/")\n')
    assert sorted(_reads_of_the_request(probe, _request_members())) == [
        "probe.py:1: 'CheckpointConfig'", "probe.py:1: .request"]
