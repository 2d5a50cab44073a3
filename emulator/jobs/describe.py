"""DescribeTrainingJob / ListTrainingJobs responses, rendered from the job's history."""

from __future__ import annotations

import base64
import copy
import json
import math
from typing import Any

from emulator import contract
from emulator.contract import TERMINAL_STATUSES
from emulator.errors import ValidationException
from emulator.jobs.billing import billable_seconds, training_seconds
from emulator.jobs.model import Outcome, TrainingJob

# Request members SageMaker echoes back in DescribeTrainingJob.
_ECHOED = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig",
    "OutputDataConfig", "ResourceConfig", "VpcConfig", "StoppingCondition",
    "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
    "CheckpointConfig", "DebugHookConfig", "ExperimentConfig", "DebugRuleConfigurations",
    "TensorBoardOutputConfig", "ProfilerConfig", "Environment", "RetryStrategy",
    "RemoteDebugConfig", "InfraCheckConfig", "ProfilerRuleConfigurations",
    "ServerlessJobConfig", "MlflowConfig", "ModelPackageConfig",
)


def describe(job: TrainingJob, model_uri: str | None) -> dict[str, Any]:
    """`model_uri`: the model.tar.gz written, or None. The botocore model marks ModelArtifacts
    as required, yet AWS leaves it out (null) for jobs without artifacts: a job still
    Starting/Stopping (aws-controllers-k8s/sagemaker-controller's recorded responses) or one
    that wrote none (aws/sagemaker-python-sdk#6091). A URI of an object that does not exist
    would send a deploy to a 404, so it is shown only once the object was written."""
    request = job.request
    out: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "TrainingJobStatus": job.status.value,
        "SecondaryStatus": job.secondary_status.value,
        "CreationTime": wire_time(job.creation_time),
        "LastModifiedTime": wire_time(job.last_modified_time),
        "SecondaryStatusTransitions": [_transition(t.to_wire()) for t in job.transitions],
        "EnableManagedSpotTraining": job.is_spot,
    }
    if model_uri is not None:
        out["ModelArtifacts"] = {"S3ModelArtifacts": model_uri}
    for key in _ECHOED:
        if key in request:
            out[key] = copy.deepcopy(request[key])
    _fill_service_defaults(out)
    if job.training_start_time is not None:
        out["TrainingStartTime"] = wire_time(job.training_start_time)
    if job.training_end_time is not None:
        out["TrainingEndTime"] = wire_time(job.training_end_time)
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason
    if job.final_metrics:
        out["FinalMetricDataList"] = [{**m, "Timestamp": wire_time(m["Timestamp"])}
                                      if isinstance(m.get("Timestamp"), (int, float)) else dict(m)
                                      for m in job.final_metrics]
    if job.attempts and job.status in TERMINAL_STATUSES:  # AWS shows them once the job ends
        out["TrainingTimeInSeconds"] = training_seconds(job)
        out["BillableTimeInSeconds"] = billable_seconds(job, job.spec.settings.spot_price_ratio)
    return out


def _fill_service_defaults(out: dict[str, Any]) -> None:
    """The members SageMaker fills in when the request left them out."""
    out.setdefault("EnableNetworkIsolation", False)
    out.setdefault("EnableInterContainerTrafficEncryption", False)
    out.setdefault("StoppingCondition", {})
    out["StoppingCondition"].setdefault("MaxRuntimeInSeconds", contract.DEFAULT_MAX_RUNTIME_S)
    algorithm = out.get("AlgorithmSpecification")
    if isinstance(algorithm, dict):
        algorithm.setdefault("EnableSageMakerMetricsTimeSeries", False)
    if isinstance(out.get("OutputDataConfig"), dict):
        out["OutputDataConfig"].setdefault("KmsKeyId", "")
    for channel in out.get("InputDataConfig") or []:
        channel.setdefault("CompressionType", "None")
        channel.setdefault("RecordWrapperType", "None")
        source = (channel.get("DataSource") or {}).get("S3DataSource")
        if isinstance(source, dict):
            source.setdefault("S3DataDistributionType", "FullyReplicated")
    out.setdefault("ProfilingStatus", "Disabled")  # the emulator does not profile


def wire_time(seconds: float) -> float:
    """Epoch seconds as the service sends them: millisecond precision."""
    return round(seconds, 3)


def _transition(wire: dict[str, Any]) -> dict[str, Any]:
    for key in ("StartTime", "EndTime"):
        if isinstance(wire.get(key), (int, float)):
            wire[key] = wire_time(wire[key])
    return wire


def summary(job: TrainingJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "CreationTime": wire_time(job.creation_time),
        "LastModifiedTime": wire_time(job.last_modified_time),
        "TrainingJobStatus": job.status.value,
        "SecondaryStatus": job.secondary_status.value,
    }
    if job.training_end_time is not None:
        out["TrainingEndTime"] = wire_time(job.training_end_time)
    return out


def emulator_report(job: TrainingJob, unfired: list[str] | None = None) -> dict[str, Any]:
    """The emulator's extension: settings and the per-attempt history."""
    return {
        "Settings": job.spec.settings.to_dict(),
        "Attempts": [a.to_dict() for a in job.attempts],
        "Interruptions": sum(1 for a in job.attempts if a.outcome == Outcome.INTERRUPTED),
        "UnfiredTriggers": list(unfired or []),
        **({} if job.s3_faults is None else {"S3Faults": dict(job.s3_faults)}),
    }


# -- ListTrainingJobs ---------------------------------------------------------------------
_TIME_FILTERS = {
    "CreationTimeAfter": lambda j, t: wire_time(j.creation_time) > t,
    "CreationTimeBefore": lambda j, t: wire_time(j.creation_time) < t,
    "LastModifiedTimeAfter": lambda j, t: wire_time(j.last_modified_time) > t,
    "LastModifiedTimeBefore": lambda j, t: wire_time(j.last_modified_time) < t,
}
_SORT_KEYS = {
    "Name": lambda j: j.name,
    "CreationTime": lambda j: j.creation_time,
    "Status": lambda j: j.status.value,
}
DEFAULT_MAX_RESULTS = 10


def list_page(jobs: list[TrainingJob], params: dict[str, Any]) -> dict[str, Any]:
    """One page of ListTrainingJobs over jobs, for validated params."""
    name_contains, status = params.get("NameContains"), params.get("StatusEquals")
    if name_contains:
        jobs = [j for j in jobs if name_contains.lower() in j.name.lower()]
    if status:
        jobs = [j for j in jobs if j.status.value == status]
    if params.get("WarmPoolStatusEquals") or params.get("TrainingPlanArnEquals"):
        jobs = []  # the emulator has neither warm pools nor training plans
    for key, keep in _TIME_FILTERS.items():
        if params.get(key) is not None:
            when = _seconds(params[key])
            jobs = [j for j in jobs if keep(j, when)]
    jobs.sort(key=lambda j: j.name)  # a stable tie-break for equal sort keys
    jobs.sort(key=_SORT_KEYS[params.get("SortBy") or "CreationTime"],
              reverse=params.get("SortOrder") == "Descending")
    start = decode_token(params.get("NextToken"))
    size = int(params.get("MaxResults") or DEFAULT_MAX_RESULTS)
    out: dict[str, Any] = {"TrainingJobSummaries": [summary(j) for j in jobs[start:start + size]]}
    if start + size < len(jobs):
        out["NextToken"] = encode_token(start + size)
    return out


def _seconds(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float: beyond any time
        return math.inf if value > 0 else -math.inf


def encode_token(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode()


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        index = json.loads(base64.urlsafe_b64decode(token.encode()))["i"]
    except Exception as err:
        raise ValidationException("Invalid pagination token") from err
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValidationException("Invalid pagination token")
    return index
