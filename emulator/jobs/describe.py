"""DescribeTrainingJob / ListTrainingJobs responses, rendered from the job's history."""

from __future__ import annotations

from typing import Any

from emulator.jobs.billing import billable_seconds, training_seconds
from emulator.jobs.model import TrainingJob
from emulator.jobs.settings import JobSettings

# Request members SageMaker echoes back in DescribeTrainingJob.
_ECHOED = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig",
    "OutputDataConfig", "ResourceConfig", "VpcConfig", "StoppingCondition",
    "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
    "CheckpointConfig", "DebugHookConfig", "ExperimentConfig", "DebugRuleConfigurations",
    "TensorBoardOutputConfig", "ProfilerConfig", "Environment", "RetryStrategy",
    "RemoteDebugConfig", "InfraCheckConfig",
)


def describe(job: TrainingJob, settings: JobSettings, model_uri: str) -> dict[str, Any]:
    request = job.request
    out: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "TrainingJobStatus": job.status.value,
        "SecondaryStatus": job.secondary_status.value,
        "CreationTime": job.creation_time,
        "LastModifiedTime": job.last_modified_time,
        "SecondaryStatusTransitions": [t.to_wire() for t in job.transitions],
        "EnableManagedSpotTraining": job.is_spot,
    }
    for key in _ECHOED:
        if key in request:
            out[key] = request[key]
    out.setdefault("EnableNetworkIsolation", False)
    out.setdefault("EnableInterContainerTrafficEncryption", False)
    if job.training_start_time is not None:
        out["TrainingStartTime"] = job.training_start_time
    if job.training_end_time is not None:
        out["TrainingEndTime"] = job.training_end_time
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason
    if job.final_metrics:
        out["FinalMetricDataList"] = list(job.final_metrics)
    if job.attempts:
        out["TrainingTimeInSeconds"] = training_seconds(job)
        out["BillableTimeInSeconds"] = billable_seconds(job, settings.spot_price_ratio)
    return out


def summary(job: TrainingJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "CreationTime": job.creation_time,
        "LastModifiedTime": job.last_modified_time,
        "TrainingJobStatus": job.status.value,
        "SecondaryStatus": job.secondary_status.value,
    }
    if job.training_end_time is not None:
        out["TrainingEndTime"] = job.training_end_time
    return out


def emulator_report(job: TrainingJob, settings: JobSettings) -> dict[str, Any]:
    """The emulator's extension: settings and the per-attempt history."""
    return {
        "Settings": settings.to_dict(),
        "Attempts": [a.to_dict() for a in job.attempts],
        "Interruptions": sum(1 for a in job.attempts if a.outcome == "interrupted"),
    }
