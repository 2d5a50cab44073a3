"""/opt/ml config files and the Docker kwargs, without a daemon."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.jobs.spec import parse_spec
from emulator.runtime.staging import HostDirs, input_data_config, resource_config, stage_host
from emulator.runtime.translate import ContainerSpec, container_environment, container_kwargs

REQUEST = {
    "TrainingJobName": "job-1",
    "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
    "HyperParameters": {"epochs": "3", "lr": "0.1"},
    "Environment": {"MY_VAR": "x", "AWS_REGION": "eu-west-1"},
    "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
    "InputDataConfig": [{
        "ChannelName": "train", "ContentType": "text/csv",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/train",
                                        "S3DataDistributionType": "ShardedByS3Key"}},
    }],
    "CheckpointConfig": {"S3Uri": "s3://b/ckpt"},
}


def test_config_files_are_compact_json_as_sagemaker_writes_them(tmp_path: Path) -> None:
    dirs = HostDirs(tmp_path / "algo-1")
    stage_host(dirs, parse_spec(REQUEST).container_config(), "algo-1")
    config = dirs.config
    assert (config / "hyperparameters.json").read_text() == '{"epochs":"3","lr":"0.1"}'
    resource = json.loads((config / "resourceconfig.json").read_text())
    assert resource["current_host"] == "algo-1"
    assert resource["hosts"] == ["algo-1"]
    assert resource["current_instance_type"] == "ml.c5.xlarge"
    assert resource["network_interface_name"] == "eth0"
    assert json.loads((config / "inputdataconfig.json").read_text()) == {
        "train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                  "S3DistributionType": "ShardedByS3Key", "RecordWrapperType": "None"}
    }
    assert json.loads((config / "checkpointconfig.json").read_text()) == {
        "LocalPath": "/opt/ml/checkpoints/", "S3Uri": "s3://b/ckpt"
    }
    assert (dirs.data / "train").is_dir() and dirs.checkpoints.is_dir()


def test_no_checkpointconfig_file_without_checkpoint_config(tmp_path: Path) -> None:
    dirs = HostDirs(tmp_path / "h")
    request = {k: v for k, v in REQUEST.items() if k != "CheckpointConfig"}
    stage_host(dirs, parse_spec(request).container_config(), "algo-1")
    assert not (dirs.config / "checkpointconfig.json").exists()
    assert not dirs.checkpoints.exists()


def test_hosts_sorted_numerically() -> None:
    hosts = resource_config("algo-2", ["algo-10", "algo-2", "algo-1"], "ml.m5.large")["hosts"]
    assert hosts == ["algo-1", "algo-2", "algo-10"]


def test_input_mode_defaults_to_algorithm_mode() -> None:
    request = {"TrainingJobName": "j", "AlgorithmSpecification": {"TrainingInputMode": "FastFile"},
               "InputDataConfig": [{"ChannelName": "c", "DataSource": {}}]}
    assert input_data_config(parse_spec(request).channels)["c"]["TrainingInputMode"] == "FastFile"


def test_container_kwargs(tmp_path: Path) -> None:
    dirs = HostDirs(tmp_path)
    job = parse_spec(REQUEST)
    env = container_environment(job.name, "arn:x", "us-east-1", job.environment)
    spec = ContainerSpec(name="c", image="img:latest", host="algo-1", dirs=dirs, environment=env,
                         labels={"smemu.managed": "true"}, network="net",
                         checkpoint_path="/opt/ml/checkpoints/")
    kwargs = container_kwargs(spec)
    assert kwargs["command"] == ["train"]
    assert "entrypoint" not in kwargs
    assert kwargs["hostname"] == "algo-1"
    assert kwargs["environment"]["TRAINING_JOB_NAME"] == "job-1"
    assert kwargs["environment"]["TRAINING_JOB_ARN"] == "arn:x"
    assert kwargs["environment"]["AWS_REGION"] == "eu-west-1"  # the request's Environment wins
    assert kwargs["environment"]["MY_VAR"] == "x"
    binds = {v["bind"] for v in kwargs["volumes"].values()}
    assert binds == {"/opt/ml/input", "/opt/ml/model", "/opt/ml/output", "/opt/ml/checkpoints"}
    assert "/opt/ml" not in binds  # the image's own /opt/ml content stays visible
    assert kwargs["networking_config"] == {"net": {"Aliases": ["algo-1"]}}
    assert kwargs["labels"]["smemu.host"] == "algo-1"


def test_entrypoint_override_and_isolation(tmp_path: Path) -> None:
    spec = ContainerSpec(name="c", image="i", host="algo-1", dirs=HostDirs(tmp_path),
                         environment={}, labels={}, network=None,
                         entrypoint=["python", "x.py"], arguments=["--a"])
    kwargs = container_kwargs(spec)
    assert kwargs["entrypoint"] == ["python", "x.py"]
    assert kwargs["command"] == ["--a"]
    assert kwargs["network_mode"] == "none"


def test_instance_groups_name_hosts_in_order_with_their_group_and_channels(
        tmp_path: Path) -> None:
    request = {**REQUEST, "ResourceConfig": {"VolumeSizeInGB": 1, "InstanceGroups": [
        {"InstanceGroupName": "trainers", "InstanceType": "ml.g5.xlarge", "InstanceCount": 1},
        {"InstanceGroupName": "empty", "InstanceType": "ml.m5.large", "InstanceCount": 0},
        {"InstanceGroupName": "loaders", "InstanceType": "ml.c5.xlarge", "InstanceCount": 2}]},
        "InputDataConfig": [
            {"ChannelName": "raw", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://b/raw",
                "InstanceGroupNames": ["loaders"]}}},
            {"ChannelName": "conf", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://b/conf"}}}]}
    spec = parse_spec(request)
    assert spec.hosts == ("algo-1", "algo-2", "algo-3")
    config = spec.container_config()
    seen = {}
    for host in spec.hosts:
        dirs = HostDirs(tmp_path / host)
        stage_host(dirs, config, host)
        seen[host] = (json.loads((dirs.config / "resourceconfig.json").read_text()),
                      sorted(json.loads((dirs.config / "inputdataconfig.json").read_text())),
                      sorted(p.name for p in dirs.data.iterdir()))
    resource, channels, data = seen["algo-1"]
    assert (resource["current_group_name"], resource["current_instance_type"]) == \
        ("trainers", "ml.g5.xlarge")
    assert resource["hosts"] == ["algo-1", "algo-2", "algo-3"]
    assert resource["instance_groups"] == [
        {"instance_group_name": "trainers", "instance_type": "ml.g5.xlarge",
         "hosts": ["algo-1"]},
        {"instance_group_name": "loaders", "instance_type": "ml.c5.xlarge",
         "hosts": ["algo-2", "algo-3"]}]
    assert channels == data == ["conf"]  # raw is the loaders' only
    resource, channels, data = seen["algo-3"]
    assert (resource["current_host"], resource["current_group_name"],
            resource["current_instance_type"]) == ("algo-3", "loaders", "ml.c5.xlarge")
    assert channels == data == ["conf", "raw"]


def test_code_mount_is_a_read_only_mount_not_a_bind(tmp_path: Path) -> None:
    spec = ContainerSpec(name="c", image="i", host="algo-1", dirs=HostDirs(tmp_path),
                         environment={}, labels={}, network=None,
                         code_mount=("/home/me/src", "/opt/ml/code"))
    kwargs = container_kwargs(spec)
    # A Mount: a missing source fails the start (a bind would create it, empty, as root).
    assert kwargs["mounts"] == [{"Type": "bind", "Source": "/home/me/src",
                                 "Target": "/opt/ml/code", "ReadOnly": True}]
    assert "/home/me/src" not in kwargs["volumes"]
    no_code = ContainerSpec(name="c", image="i", host="algo-1", dirs=HostDirs(tmp_path),
                            environment={}, labels={}, network=None)
    assert "mounts" not in container_kwargs(no_code)
