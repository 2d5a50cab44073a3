"""The semantic rules of CreateTrainingJob that the service model's shapes cannot express."""

from __future__ import annotations

import re
from typing import Any

from emulator import contract
from emulator.errors import ValidationException
from emulator.validation import format_validation_message

# Built-in algorithms that cannot checkpoint may only wait an hour for spot capacity.
MAX_WAIT_WITHOUT_CHECKPOINTS = 3600
# Each instance is a container on this machine.
MAX_LOCAL_INSTANCES = 16


# Required by the contract although today's service model leaves them optional.
CLASSIC_REQUIRED = ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition")


def check_required_members(request: dict[str, Any]) -> None:
    missing = [
        f"Value null at '{key[0].lower()}{key[1:]}' failed to satisfy constraint: "
        "Member must not be null"
        for key in CLASSIC_REQUIRED if request.get(key) is None
    ]
    resources = request.get("ResourceConfig") or {}
    count = resources.get("InstanceCount")
    if isinstance(resources, dict) and count is not None and count < 1:
        missing.append(f"Value '{count}' at 'resourceConfig.instanceCount' failed to satisfy "
                       "constraint: Member must have value greater than or equal to 1")
    if missing:
        raise ValidationException(format_validation_message(missing))


def check_create_rules(request: dict[str, Any]) -> None:
    check_required_members(request)
    spot = bool(request.get("EnableManagedSpotTraining"))
    stopping = request.get("StoppingCondition") or {}
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    max_runtime = stopping.get("MaxRuntimeInSeconds", contract.DEFAULT_MAX_RUNTIME_S)
    algorithm = request.get("AlgorithmSpecification") or {}
    if max_wait is not None and not spot:
        raise ValidationException(contract.MAX_WAIT_WITHOUT_SPOT)
    if spot and max_wait is None:
        raise ValidationException(
            "Invalid StoppingCondition. MaxWaitTimeInSeconds is required when "
            "EnableManagedSpotTraining is set to true"
        )
    if spot and max_wait is not None and max_wait < max_runtime:
        raise ValidationException(
            f"Invalid MaxWaitTimeInSeconds. It must be greater than or equal to "
            f"MaxRuntimeInSeconds ({max_runtime}), got {max_wait}"
        )
    if spot and algorithm.get("AlgorithmName") and not request.get("CheckpointConfig") \
            and max_wait is not None and max_wait > MAX_WAIT_WITHOUT_CHECKPOINTS:
        raise ValidationException(
            f"Invalid MaxWaitTimeInSeconds. For algorithms without checkpoint support it must "
            f"be less than or equal to {MAX_WAIT_WITHOUT_CHECKPOINTS}, got {max_wait}"
        )
    if not algorithm.get("TrainingImage") and not algorithm.get("AlgorithmName"):
        raise ValidationException(
            "Invalid AlgorithmSpecification. Either TrainingImage or AlgorithmName is required"
        )
    if algorithm.get("AlgorithmName") and algorithm.get("TrainingImage"):
        raise ValidationException(
            "Invalid AlgorithmSpecification. Specify either TrainingImage or AlgorithmName, "
            "not both"
        )
    if algorithm.get("AlgorithmName"):
        raise ValidationException(
            "AlgorithmName is not supported by smemu: it runs your own TrainingImage only"
        )
    _check_channels(request.get("InputDataConfig") or [])
    local_path = (request.get("CheckpointConfig") or {}).get("LocalPath")
    if local_path is not None and not str(local_path).startswith("/"):
        raise ValidationException(
            f"Invalid CheckpointConfig. LocalPath must be an absolute path, got '{local_path}'"
        )
    modes = [algorithm.get("TrainingInputMode")] + [
        c.get("InputMode") for c in request.get("InputDataConfig") or []
    ]
    if "Pipe" in modes:
        raise ValidationException(
            "TrainingInputMode Pipe is not supported by smemu; use File or FastFile "
            "(FastFile is served as File)"
        )
    resources = request.get("ResourceConfig") or {}
    groups = resources.get("InstanceGroups") or []
    count = sum(int(g.get("InstanceCount") or 0) for g in groups) if groups \
        else resources.get("InstanceCount", 1)
    _check_instance_groups(groups, resources, request.get("InputDataConfig") or [])
    if count > MAX_LOCAL_INSTANCES:
        raise ValidationException(
            f"InstanceCount {count} is more than smemu runs on one machine: each instance is "
            f"a container here, at most {MAX_LOCAL_INSTANCES} per job"
        )
    _check_metric_definitions(algorithm.get("MetricDefinitions") or [])
    names = [c.get("ChannelName") for c in request.get("InputDataConfig") or []]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationException(f"Channel names must be unique: {', '.join(duplicates)}")


def _check_channels(channels: list[dict[str, Any]]) -> None:
    for channel in channels:
        source = channel.get("DataSource") or {}
        name = channel.get("ChannelName")
        if source.get("FileSystemDataSource") is not None:
            raise ValidationException(
                f"Channel '{name}': FileSystemDataSource (EFS / FSx for Lustre) is not "
                "supported by smemu; use an S3DataSource (or a file:// S3Uri for a local "
                "directory)"
            )
        if channel.get("CompressionType") == "Gzip" and \
                (channel.get("InputMode") or "File") != "Pipe":
            raise ValidationException(
                f"Invalid InputDataConfig. Channel '{name}': CompressionType Gzip is used only "
                "in Pipe input mode; in File mode leave it unset or set it to None"
            )
        if source.get("S3DataSource") is None:
            raise ValidationException(
                f"Invalid InputDataConfig. Channel '{name}' must specify a DataSource with an "
                "S3DataSource or a FileSystemDataSource"
            )


def _check_instance_groups(groups: list[dict[str, Any]], resources: dict[str, Any],
                           channels: list[dict[str, Any]]) -> None:
    """A heterogeneous cluster: named groups instead of InstanceType/InstanceCount, and
    channels that name only groups of the cluster."""
    if not groups:
        return
    if resources.get("InstanceType") is not None or resources.get("InstanceCount") is not None:
        raise ValidationException(
            "Invalid ResourceConfig. Specify either InstanceType and InstanceCount, or "
            "InstanceGroups, not both")
    names = [str(g.get("InstanceGroupName")) for g in groups]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationException(
            f"Invalid ResourceConfig. Instance group names must be unique: {', '.join(duplicates)}")
    if not any(int(g.get("InstanceCount") or 0) for g in groups):
        raise ValidationException(
            "Invalid ResourceConfig. The instance groups must have at least one instance")
    for channel in channels:
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        unknown = [n for n in source.get("InstanceGroupNames") or [] if n not in names]
        if unknown:
            raise ValidationException(
                f"Invalid InputDataConfig. Channel '{channel.get('ChannelName')}' names instance "
                f"groups that ResourceConfig.InstanceGroups does not have: {', '.join(unknown)}")


def _check_metric_definitions(definitions: list[dict[str, Any]]) -> None:
    names = [d.get("Name") for d in definitions]
    duplicates = sorted({str(n) for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationException(f"Metric names must be unique: {', '.join(duplicates)}")
    for definition in definitions:
        try:
            re.compile(str(definition.get("Regex")))
        except re.error as err:
            raise ValidationException(
                f"Invalid MetricDefinitions: the Regex '{definition.get('Regex')}' of metric "
                f"'{definition.get('Name')}' is not a valid regular expression: {err}"
            ) from err


def s3_uris(request: dict[str, Any]) -> list[str]:
    """Every S3 URI the job will read or write (for the bucket-exists check)."""
    uris = [str((request.get("OutputDataConfig") or {}).get("S3OutputPath", ""))]
    uris.append(str((request.get("CheckpointConfig") or {}).get("S3Uri", "")))
    uris.append(str((request.get("TensorBoardOutputConfig") or {}).get("S3OutputPath", "")))
    for channel in request.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        uris.append(str(source.get("S3Uri", "")))
    return [u for u in uris if u.startswith(("s3://", "https://"))]
