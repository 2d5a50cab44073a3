"""Run a training job on an endpoint and wait for its result, as a test would."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from emulator import contract
from emulator.faults.plan import parse_plan
from emulator.faults.s3_spec import S3FaultSpec, parse_s3_faults
from emulator.jobs.request import DEFAULT_OUTPUT_PATH, RunOptions, build_request, request_buckets
from emulator.jobs.settings import TAG_INTERRUPT, JobSettings
from emulator.s3uri import parse_s3_uri
from emulator.storage.s3 import ensure_bucket
from emulator.testing.endpoint import Endpoint
from emulator.testing.result import JobResult

TERMINAL = frozenset(s.value for s in contract.TERMINAL_STATUSES)
DEFAULT_BUCKET = DEFAULT_OUTPUT_PATH[len("s3://"):].split("/", 1)[0]
WAIT_MARGIN_S = 300.0  # beyond the job's own time limit, before waiting is given up


def unique_job_name(image: str) -> str:
    """<image name>-<8 random hex digits>: unique among parallel tests, within 63 characters."""
    base = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    base = "".join(c if c.isalnum() else "-" for c in base).strip("-")[:40] or "smemu"
    return f"{base}-{uuid.uuid4().hex[:8]}"


def training_request(image: str, *, name: str | None = None,
                     interrupt: str | Iterable[str] = (),
                     hyperparameters: Mapping[str, object] | None = None,
                     instance_count: int = 1, spot: bool = True, max_wait: int = 900,
                     grace_period: float | None = None, checkpoint_s3_uri: str | None = None,
                     s3_faults: str | S3FaultSpec | None = None, s3_wait: float | None = None,
                     **request_overrides: Any) -> dict[str, Any]:
    """A CreateTrainingJob request with test-friendly defaults.

    ``interrupt``: trigger strings as `smemu run --interrupt` takes them ("checkpoint=1",
    "after=30s", ...), used in order. With no ``checkpoint_s3_uri`` the job checkpoints to a
    prefix of its own, s3://sagemaker-REGION-ACCOUNT/checkpoints/NAME/ (the slash: a prefix
    without one would also restore the checkpoints of a job named NAME-2). ``s3_faults``: a
    SPEC as `smemu run --s3-faults` takes it ("errors=20% seed=7", "outage=30s+10s") or an
    `S3FaultSpec`; ``s3_wait``: seconds a flush, restore or model upload goes on retrying while
    S3 fails (`--s3-wait`). ``request_overrides``
    are request members (``StoppingCondition={"MaxRuntimeInSeconds": 60}``): dicts merge,
    None removes the member, Tags add to the emulator's, anything else replaces.
    """
    plan = parse_plan(interrupt)
    if any(not t.host_failure for t in plan.triggers) and not spot:
        raise ValueError("interrupt= needs a managed spot job (spot=True)")
    name = name or unique_job_name(image)
    options = RunOptions(
        image=image, job_name=name,
        hyperparameters={k: str(v) for k, v in (hyperparameters or {}).items()},
        instance_count=instance_count, spot=spot, max_wait=max_wait if spot else None,
        checkpoint_s3_uri=checkpoint_s3_uri or f"s3://{DEFAULT_BUCKET}/checkpoints/{name}/")
    faults = parse_s3_faults(s3_faults) if isinstance(s3_faults, str) else s3_faults
    defaults = JobSettings()
    settings = JobSettings(
        plan=plan, grace_period=defaults.grace_period if grace_period is None else grace_period,
        s3_faults=faults or defaults.s3_faults,
        s3_wait=defaults.s3_wait if s3_wait is None else s3_wait)
    explicit = [name for name, given in (("grace_period", grace_period), ("s3_wait", s3_wait))
                if given is not None]
    request = build_request(options, settings, explicit=explicit)
    extra_tags = request_overrides.pop("Tags", None) or []
    request = _merged(request, request_overrides)
    if extra_tags:
        request["Tags"] = [*request.get("Tags", []), *extra_tags]
    return request


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def start_job(endpoint: Endpoint | str, image: str, *, create_buckets: bool = True,
              **options: Any) -> str:
    """Create the job (`training_request(image, **options)`) and return its name at once."""
    return create_job(endpoint, training_request(image, **options),
                      create_buckets=create_buckets)


def create_job(endpoint: Endpoint | str, request: dict[str, Any], *,
               create_buckets: bool = True) -> str:
    """Send a CreateTrainingJob request and return the job's name at once. The buckets it
    names are created first on the endpoint's S3 unless told not to."""
    endpoint = _endpoint(endpoint)
    if create_buckets:
        s3 = endpoint.s3_client()
        for bucket in request_buckets(request):
            ensure_bucket(s3, bucket)
    endpoint.client("sagemaker").create_training_job(**request)
    return str(request["TrainingJobName"])


def uninterrupted_twin(request: dict[str, Any]) -> dict[str, Any]:
    """The same request with no interruption plan, under its own name and checkpoint prefix
    (in a folder of its own: no prefix of the original's can reach it)."""
    twin = copy.deepcopy(request)
    name = f"{request['TrainingJobName'][:49]}-uninterrupted"
    twin["TrainingJobName"] = name
    twin["Tags"] = [t for t in request.get("Tags", []) if t.get("Key") != TAG_INTERRUPT]
    if not twin["Tags"]:
        del twin["Tags"]
    checkpoint = twin.get("CheckpointConfig")
    if checkpoint and checkpoint.get("S3Uri"):
        bucket = parse_s3_uri(checkpoint["S3Uri"], allow_https=True).bucket
        checkpoint["S3Uri"] = f"s3://{bucket}/smemu-uninterrupted/{name}/"
    return twin


def wait_for_job(endpoint: Endpoint | str, name: str, *, timeout: float | None = None,
                 poll: float = 0.5) -> JobResult:
    """Wait until the job is Completed, Failed or Stopped and return its result.

    ``timeout`` defaults to the job's own time limit (MaxWaitTimeInSeconds, else
    MaxRuntimeInSeconds) plus a margin. When it runs out, the job is stopped and TimeoutError
    says where it was.
    """
    endpoint = _endpoint(endpoint)
    sagemaker = endpoint.client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=name)
    if timeout is None:
        limits = job.get("StoppingCondition") or {}
        timeout = float(limits.get("MaxWaitTimeInSeconds") or
                        limits.get("MaxRuntimeInSeconds") or contract.DEFAULT_MAX_RUNTIME_S)
        timeout += WAIT_MARGIN_S
    deadline = time.monotonic() + timeout
    while job["TrainingJobStatus"] not in TERMINAL:
        if time.monotonic() >= deadline:
            if job["TrainingJobStatus"] == "InProgress":
                sagemaker.stop_training_job(TrainingJobName=name)
            raise TimeoutError(
                f"training job {name} did not end within {timeout:g}s: it is "
                f"{job['TrainingJobStatus']}/{job['SecondaryStatus']} (StopTrainingJob sent)")
        time.sleep(poll)
        job = sagemaker.describe_training_job(TrainingJobName=name)
    return read_result(endpoint, name, job)


def read_result(endpoint: Endpoint | str, name: str,
                describe: dict[str, Any] | None = None) -> JobResult:
    """The result of a job as it is now (finished or not)."""
    endpoint = _endpoint(endpoint)
    if describe is None:
        describe = endpoint.client("sagemaker").describe_training_job(TrainingJobName=name)
    return JobResult(endpoint, dict(describe), endpoint.report(name))


def run_job(endpoint: Endpoint | str, image: str, *, timeout: float | None = None,
            create_buckets: bool = True, compare_uninterrupted: bool = False,
            **options: Any) -> JobResult:
    """Create a job on the endpoint, wait for its end, and return its result.

    ``options`` are `training_request`'s: ``interrupt``, ``hyperparameters``,
    ``instance_count``, ``spot`` (default True), ``max_wait`` (900), ``grace_period``,
    ``checkpoint_s3_uri``, ``s3_faults``, ``s3_wait``, ``name``, and request members to
    override.
    ``compare_uninterrupted`` also runs the same request with no interruption plan, at the
    same time on its own checkpoint prefix; it becomes ``result.uninterrupted``, for
    `assert_same_as_uninterrupted`.
    """
    endpoint = _endpoint(endpoint)
    request = training_request(image, **options)
    twin = uninterrupted_twin(request) if compare_uninterrupted else None
    name = create_job(endpoint, request, create_buckets=create_buckets)
    if twin is not None:
        create_job(endpoint, twin, create_buckets=create_buckets)
    result = wait_for_job(endpoint, name, timeout=timeout)
    if twin is not None:
        result.uninterrupted = wait_for_job(endpoint, twin["TrainingJobName"], timeout=timeout)
    return result


def _endpoint(endpoint: Endpoint | str) -> Endpoint:
    return Endpoint.connect(endpoint) if isinstance(endpoint, str) else endpoint
