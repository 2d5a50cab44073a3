"""The job service: every entry point (HTTP, CLI, Python API) creates and reads jobs here."""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any

from emulator import contract
from emulator.contract import TERMINAL_STATUSES, JobStatus
from emulator.errors import (
    AwsError,
    ImageMissing,
    ResourceInUse,
    ResourceNotFound,
    ServiceUnavailable,
    ValidationException,
)
from emulator.jobs.changes import JobChanges
from emulator.jobs.clock import Clock, SystemClock
from emulator.jobs.context import RunnerContext
from emulator.jobs.control import JobControl
from emulator.jobs.describe import (
    decode_token,
    describe,
    emulator_report,
    encode_token,
    list_page,
)
from emulator.jobs.gpu_jobs import check_gpus
from emulator.jobs.host_paths import named_paths, validate_create
from emulator.jobs.instance_limits import check_instance_types
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import TrainingJob
from emulator.jobs.past import PastRun
from emulator.jobs.quota import check_instance_quota
from emulator.jobs.reclaim import check_plan_hosts
from emulator.jobs.request_rules import CLASSIC_REQUIRED, check_create_rules, s3_uris
from emulator.jobs.settings import JobSettings, settings_from_tags
from emulator.jobs.spec import parse_spec
from emulator.jobs.store import InMemoryJobStore, JobRecord, JobStore, RunnerFactory
from emulator.storage.s3 import bucket_exists, split_s3_uri
from emulator.validation import validate_request

MAX_TAGS = 50
_JOB_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:training-job/(.+)")


class JobService:
    def __init__(self, ctx: RunnerContext, runner_factory: RunnerFactory, *,
                 clock: Clock | None = None, defaults: JobSettings | None = None,
                 store: JobStore | None = None, max_instances: int | None = None) -> None:
        self.ctx = ctx
        self.max_instances = max_instances  # the quota on running instances; None: no limit
        self.runner_factory = runner_factory
        self.clock = clock or SystemClock()
        self.defaults = defaults or JobSettings()
        self.store: JobStore = store or InMemoryJobStore()  # the histories, kept
        self._records: dict[str, JobRecord] = {}  # by lower-case name: the jobs served
        self._create_lock = threading.Lock()
        self._closing = False  # set by shutdown(): no job may start after it
        self._tags_lock = threading.Lock()
        self.changes = JobChanges()  # every _save counts: GET /_smemu/jobs/NAME/changes

    # -- operations ---------------------------------------------------------------
    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        validate_create(request, CLASSIC_REQUIRED)  # file:// channels: the roots decide
        request = _without_nulls(request)  # the service reads a null member as an absent one
        check_create_rules(request)
        spec = parse_spec(request, settings_from_tags(request.get("Tags"), self.defaults))
        self.ctx.host_paths.check(named_paths(request))
        check_plan_hosts(spec)
        name = spec.name
        arn = contract.training_job_arn(name, self.ctx.region)
        if self._get(name) is not None:  # before the slower checks; again under the lock
            raise ResourceInUse(contract.duplicate_job_message(arn))
        self._check_buckets(request)
        self._check_image(spec.image)
        check_gpus(spec, self.ctx.engine.has_gpus)
        check_instance_types(spec.settings.instance_limits, spec.resources.host_types())
        with self._create_lock:
            if self._closing:
                raise ServiceUnavailable("The smemu endpoint is shutting down; no new jobs.")
            if name.lower() in self._records:
                raise ResourceInUse(contract.duplicate_job_message(arn))
            if self.max_instances is not None:
                check_instance_quota(self.max_instances, self._instances_in_use(),
                                     spec.resources.instance_count)
            job = TrainingJob(spec=spec, arn=arn, creation_time=self.clock.now(),
                              tags=[dict(t) for t in request.get("Tags") or []])
            lifecycle = JobLifecycle(job, self.clock, on_change=self._save)
            control, lock = JobControl(), threading.Lock()
            runner = self.runner_factory(job=job, lifecycle=lifecycle, control=control,
                                         lock=lock)
            self._records[name.lower()] = JobRecord(job, control, lock, runner)
            lifecycle.created()
            self.store.add(job)
        runner.start()
        return {"TrainingJobArn": arn}

    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("DescribeTrainingJob", params)
        record = self._record(params["TrainingJobName"])
        with record.lock:
            return describe(record.job, record.job.model_artifacts)

    def emulator_report(self, name: str) -> dict[str, Any]:
        record = self._record(name)
        with record.lock:
            return emulator_report(record.job, record.runner.unfired_triggers())

    def job_changes(self, name: str, after: int, timeout: float) -> dict[str, Any]:
        """{"Version": the job's change count} once it is above `after`, or after `timeout`
        seconds: a client waits for the job's next change instead of polling for it."""
        record = self._record(name)
        return {"Version": self.changes.wait(record.name, after, timeout)}

    def list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("ListTrainingJobs", params)
        return list_page([record.job for record in self._all()], params)

    def stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("StopTrainingJob", params)
        name = str(params["TrainingJobName"])
        record = self._record(name, ResourceNotFound(contract.job_not_found_message(name)))
        job = record.job
        if job.status in TERMINAL_STATUSES or job.status == JobStatus.STOPPING:
            raise ValidationException(contract.stop_finished_job_message(job.status.value))
        record.control.request_stop()
        return {}

    def delete_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        """Forget a finished job: it leaves Describe and List, and its name is free again."""
        validate_request("DeleteTrainingJob", params)
        name = str(params["TrainingJobName"])
        with self._create_lock:
            record = self._records.get(name.lower())
            if record is None:
                raise ResourceNotFound(contract.job_not_found_message(name))
            if record.job.status not in TERMINAL_STATUSES:
                raise ValidationException(_delete_unfinished_message(record.job.status.value))
            del self._records[name.lower()]
            self.store.remove(record.name)
            self.changes.forget(record.name)
        return {}

    def adopt(self, job: TrainingJob, unfired: list[str]) -> None:
        """Serve a finished job an earlier endpoint process ran (read from the job history)."""
        with self._create_lock:
            self._records[job.name.lower()] = JobRecord(job, JobControl(), threading.Lock(),
                                                        PastRun(unfired))
            self.store.add(job)

    def reset(self) -> dict[str, list[str]]:
        """Forget every finished job and remove what is left of its work directory, as
        DeleteTrainingJob would one by one; running jobs go on untouched. For tests."""
        removed: list[str] = []
        for job in [record.job for record in self._all()]:
            if job.status not in TERMINAL_STATUSES:
                continue
            # While the name is still taken: a new job of that name cannot own the directory.
            self.ctx.engine.remove_tree(self.ctx.workdir / job.name, self.ctx.gateway_image)
            with contextlib.suppress(ResourceNotFound):  # deleted meanwhile
                self.delete_training_job({"TrainingJobName": job.name})
                removed.append(job.name)
        running = [r.name for r in self._all() if r.job.status not in TERMINAL_STATUSES]
        return {"Removed": removed, "Running": running}

    # -- tags -----------------------------------------------------------------------
    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("AddTags", params)
        job = self._job_of_arn(params["ResourceArn"])
        with self._tags_lock:
            merged = {t["Key"]: t for t in job.tags}
            merged.update({t["Key"]: dict(t) for t in params["Tags"]})
            if len(merged) > MAX_TAGS:
                raise ValidationException(
                    f"1 validation error detected: Value '{len(merged)}' at 'tags' failed to "
                    f"satisfy constraint: a resource can have at most {MAX_TAGS} tags")
            job.tags = list(merged.values())
            self._save(job)
        return {"Tags": [dict(t) for t in params["Tags"]]}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("ListTags", params)
        job = self._job_of_arn(params["ResourceArn"])
        with self._tags_lock:
            tags = [dict(t) for t in job.tags]
        start = decode_token(params.get("NextToken"))
        size = int(params.get("MaxResults") or MAX_TAGS)
        out: dict[str, Any] = {"Tags": tags[start:start + size]}
        if start + size < len(tags):
            out["NextToken"] = encode_token(start + size)
        return out

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("DeleteTags", params)
        job = self._job_of_arn(params["ResourceArn"])
        keys = set(params["TagKeys"])
        with self._tags_lock:
            job.tags = [t for t in job.tags if t["Key"] not in keys]
            self._save(job)
        return {}

    def interrupt_training_job(self, name: str) -> dict[str, Any]:
        # Worded as StopTrainingJob, the operation it resembles.
        record = self._record(name, ResourceNotFound(contract.job_not_found_message(name)))
        job = record.job
        if job.status != JobStatus.IN_PROGRESS:
            raise ValidationException(contract.stop_finished_job_message(job.status.value))
        if not job.is_spot:
            raise ValidationException("Only managed spot training jobs can be interrupted")
        if not record.control.request_interrupt("manual"):
            raise ValidationException(
                f"The training job is in secondary status {job.secondary_status.value}: an "
                "interruption can only be injected while it is Training and not already ending.")
        return {}

    def wait(self, name: str, timeout: float | None = None) -> None:
        self._record(name).runner.join(timeout)

    def shutdown(self, budget: float = contract.DEFAULT_SHUTDOWN_BUDGET_S,
                 upload_allowance: float = contract.SHUTDOWN_UPLOAD_ALLOWANCE_S) -> list[str]:
        """StopTrainingJob for every running job (the endpoint is going away): SIGTERM, a grace
        period cut to `budget` seconds (one budget for all jobs, not one each), SIGKILL, then
        the checkpoint flush and the model upload, for at most `upload_allowance` more. Every
        job's state is saved. Returns the jobs still running after all that (killed)."""
        with self._create_lock:
            self._closing = True
            records = list(self._records.values())
        grace_deadline = self.clock.monotonic() + max(0.0, budget)
        for record in records:
            if record.job.status not in TERMINAL_STATUSES:
                record.control.shut_down(grace_deadline)
        deadline = grace_deadline + max(0.0, upload_allowance)
        for record in records:
            record.runner.join(max(0.0, deadline - self.clock.monotonic()))
        unfinished = [r for r in records if r.job.status not in TERMINAL_STATUSES]
        for record in unfinished:  # an upload or a restore that outlasted its allowance
            record.control.kill()
        for record in records:
            if not isinstance(record.runner, PastRun):  # as the runner left it, even unfinished
                self._save(record.job)
        return [record.name for record in unfinished]

    def kill_all(self) -> None:
        """End every grace period now (a second Ctrl-C during the shutdown)."""
        for record in self._all():
            if record.job.status not in TERMINAL_STATUSES:
                record.control.kill()

    # -- helpers ------------------------------------------------------------------
    def _record(self, name: str, not_found: AwsError | None = None) -> JobRecord:
        """The job's record. An unknown job raises `not_found`, else DescribeTrainingJob's
        error (see contract)."""
        record = self._get(str(name))
        if record is None:
            raise not_found or ValidationException(contract.NOT_FOUND_MESSAGE)
        return record

    def _instances_in_use(self) -> int:
        """The instances of the jobs not yet ended (a Stopping job still holds its own)."""
        return sum(record.job.spec.resources.instance_count for record in self._records.values()
                   if record.job.status not in TERMINAL_STATUSES)

    def _get(self, name: str) -> JobRecord | None:
        with self._create_lock:
            return self._records.get(name.lower())

    def _all(self) -> list[JobRecord]:
        with self._create_lock:
            return list(self._records.values())

    def _save(self, job: TrainingJob) -> None:
        """Tell the store the job changed (a lifecycle event, its tags, its end)."""
        record = self._records.get(job.name.lower())
        self.store.save(job, record.runner.unfired_triggers() if record else [])
        self.changes.changed(job.name)

    def _job_of_arn(self, arn: str) -> TrainingJob:
        """The training job an ARN names; tags on other resources are not emulated."""
        match = _JOB_ARN.fullmatch(str(arn))
        if match is None:
            raise ValidationException(
                f"smemu supports tags on training jobs only; {arn} is not a training job ARN "
                "(arn:aws:sagemaker:REGION:ACCOUNT:training-job/NAME)")
        record = self._get(match.group(1))
        if record is None or match.group(0).lower() != record.job.arn.lower():
            raise ValidationException(f"Resource {arn} does not exist.")
        return record.job

    def _check_image(self, image: str) -> None:
        try:
            self.ctx.engine.ensure_image(image)
        except ImageMissing as err:
            raise ValidationException(str(err)) from err
        except Exception as err:  # a reference docker cannot parse, or no engine
            raise ValidationException(
                f"The training image '{image}' cannot be used: {err}. Build it "
                f"(docker build -t {image} .) or pull it (docker pull {image}) first."
            ) from err

    def _check_buckets(self, request: dict[str, Any]) -> None:
        for uri in s3_uris(request):
            bucket, _ = split_s3_uri(uri)
            try:
                exists = self.ctx.bucket_exists(bucket) if self.ctx.bucket_exists else \
                    bucket_exists(self.ctx.s3.client(), bucket)
            except Exception:  # e.g. a name S3 does not allow: there is no such bucket
                exists = False
            if not exists:
                raise ValidationException(
                    f"The S3 bucket '{bucket}' of {uri} does not exist on the emulator's S3 "
                    f"endpoint ({self.ctx.s3.url}). Create it first, e.g. "
                    f"aws --endpoint-url {self.ctx.s3.url} s3 mb s3://{bucket}"
                )



def _delete_unfinished_message(status: str) -> str:
    # UNCONFIRMED text, in the style of StopTrainingJob's.
    return (f"The request was rejected because the training job is in status {status}. "
            "Only a training job in status Completed, Failed or Stopped can be deleted.")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
