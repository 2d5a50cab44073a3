"""The semantic rules of CreateTrainingJob that the service model's shapes cannot express."""

from __future__ import annotations

from typing import Any

from emulator import contract
from emulator.errors import ValidationException

# Built-in algorithms that cannot checkpoint may only wait an hour for spot capacity.
MAX_WAIT_WITHOUT_CHECKPOINTS = 3600


def check_create_rules(request: dict[str, Any]) -> None:
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
    if algorithm.get("AlgorithmName") and not algorithm.get("TrainingImage"):
        raise ValidationException(
            "AlgorithmName is not supported by smemu: it runs your own TrainingImage only"
        )
    modes = [algorithm.get("TrainingInputMode")] + [
        c.get("InputMode") for c in request.get("InputDataConfig") or []
    ]
    if "Pipe" in modes:
        raise ValidationException(
            "TrainingInputMode Pipe is not supported by smemu; use File or FastFile "
            "(FastFile is served as File)"
        )
    names = [c.get("ChannelName") for c in request.get("InputDataConfig") or []]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationException(f"Channel names must be unique: {', '.join(duplicates)}")


def s3_uris(request: dict[str, Any]) -> list[str]:
    """Every S3 URI the job will read or write (for the bucket-exists check)."""
    uris = [str((request.get("OutputDataConfig") or {}).get("S3OutputPath", ""))]
    uris.append(str((request.get("CheckpointConfig") or {}).get("S3Uri", "")))
    for channel in request.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        uris.append(str(source.get("S3Uri", "")))
    return [u for u in uris if u.startswith(("s3://", "https://"))]
