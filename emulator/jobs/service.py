"""The job service: every entry point (HTTP, CLI, Python API) creates and reads jobs here."""

from __future__ import annotations

import base64
import copy
import json
import threading
from typing import Any

from emulator import contract
from emulator.contract import TERMINAL_STATUSES, JobStatus
from emulator.errors import ResourceInUse, ValidationException
from emulator.jobs.clock import Clock, SystemClock
from emulator.jobs.describe import describe, emulator_report, summary
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import TrainingJob
from emulator.jobs.rules import check_create_rules, s3_uris
from emulator.jobs.runner import JobRunner, RunnerContext, model_artifacts_uri
from emulator.jobs.settings import JobSettings, settings_from_tags
from emulator.jobs.store import InMemoryJobStore, JobStore
from emulator.storage.s3 import bucket_exists, split_s3_uri
from emulator.validation import validate_request


class JobService:
    def __init__(self, ctx: RunnerContext, *, clock: Clock | None = None,
                 defaults: JobSettings | None = None, store: JobStore | None = None) -> None:
        self.ctx = ctx
        self.clock = clock or SystemClock()
        self.defaults = defaults or JobSettings()
        self.store: JobStore = store or InMemoryJobStore()
        self._runners: dict[str, JobRunner] = {}
        self._settings: dict[str, JobSettings] = {}
        self._create_lock = threading.Lock()

    # -- operations ---------------------------------------------------------------
    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        validate_request("CreateTrainingJob", request)
        check_create_rules(request)
        settings = settings_from_tags(request.get("Tags"), self.defaults)
        self._check_buckets(request)
        self.ctx.engine.ensure_image(request["AlgorithmSpecification"]["TrainingImage"])
        name = request["TrainingJobName"]
        arn = contract.training_job_arn(name, self.ctx.region)
        with self._create_lock:
            if self.store.get(name) is not None:
                raise ResourceInUse(contract.duplicate_job_message(arn))
            job = TrainingJob(name=name, arn=arn, request=copy.deepcopy(request),
                              creation_time=self.clock.now(), tags=list(request.get("Tags") or []))
            lifecycle = JobLifecycle(job, self.clock)
            lifecycle.created()
            runner = JobRunner(job, lifecycle, settings, self.ctx)
            self.store.add(job)
            self._runners[name.lower()] = runner
            self._settings[name.lower()] = settings
        runner.thread.start()
        return {"TrainingJobArn": arn}

    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("DescribeTrainingJob", params)
        job = self._get(params["TrainingJobName"])
        with self._runners[job.name.lower()].lock:
            return describe(job, self._settings[job.name.lower()], model_artifacts_uri(job.request))

    def emulator_report(self, name: str) -> dict[str, Any]:
        job = self._get(name)
        with self._runners[job.name.lower()].lock:
            return emulator_report(job, self._settings[job.name.lower()])

    def list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("ListTrainingJobs", params)
        jobs = self.store.all()
        name_contains = params.get("NameContains")
        status = params.get("StatusEquals")
        filters = {
            "CreationTimeAfter": lambda j, t: j.creation_time > t,
            "CreationTimeBefore": lambda j, t: j.creation_time < t,
            "LastModifiedTimeAfter": lambda j, t: j.last_modified_time > t,
            "LastModifiedTimeBefore": lambda j, t: j.last_modified_time < t,
        }
        if name_contains:
            jobs = [j for j in jobs if name_contains.lower() in j.name.lower()]
        if status:
            jobs = [j for j in jobs if j.status.value == status]
        for key, keep in filters.items():
            if params.get(key) is not None:
                when = float(params[key])
                jobs = [j for j in jobs if keep(j, when)]
        sort_by = params.get("SortBy", "CreationTime")
        key_of = {
            "Name": lambda j: j.name,
            "CreationTime": lambda j: j.creation_time,
            "Status": lambda j: j.status.value,
        }[sort_by]
        jobs.sort(key=key_of, reverse=params.get("SortOrder", "Ascending") == "Descending")
        start = _decode_token(params.get("NextToken"))
        size = int(params.get("MaxResults", 10))
        page = jobs[start:start + size]
        out: dict[str, Any] = {"TrainingJobSummaries": [summary(j) for j in page]}
        if start + size < len(jobs):
            out["NextToken"] = _encode_token(start + size)
        return out

    def stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_request("StopTrainingJob", params)
        job = self._get(params["TrainingJobName"])
        if job.status in TERMINAL_STATUSES or job.status == JobStatus.STOPPING:
            raise ValidationException(contract.stop_finished_job_message(job.status.value))
        self._runners[job.name.lower()].request_stop()
        return {}

    def interrupt_training_job(self, name: str) -> dict[str, Any]:
        job = self._get(name)
        if job.status != JobStatus.IN_PROGRESS:
            raise ValidationException(contract.stop_finished_job_message(job.status.value))
        if not job.is_spot:
            raise ValidationException("Only managed spot training jobs can be interrupted")
        self._runners[job.name.lower()].request_interrupt("manual")
        return {}

    def wait(self, name: str, timeout: float | None = None) -> None:
        self._runners[self._get(name).name.lower()].thread.join(timeout)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every running job (the endpoint is going away) and wait for the runners."""
        runners = list(self._runners.values())
        for runner in runners:
            if runner.job.status not in TERMINAL_STATUSES:
                runner.settings = JobSettings(runner.settings.plan, 0.0,
                                              runner.settings.checkpoint_flush,
                                              runner.settings.spot_price_ratio)
                runner.request_stop()
        for runner in runners:
            runner.thread.join(timeout)

    # -- helpers ------------------------------------------------------------------
    def _get(self, name: str) -> TrainingJob:
        job = self.store.get(str(name))
        if job is None:
            raise ValidationException(contract.NOT_FOUND_MESSAGE)
        return job

    def _check_buckets(self, request: dict[str, Any]) -> None:
        client = self.ctx.s3.client()
        for uri in s3_uris(request):
            bucket, _ = split_s3_uri(uri)
            if not bucket_exists(client, bucket):
                raise ValidationException(
                    f"The S3 bucket '{bucket}' of {uri} does not exist on the emulator's S3 "
                    f"endpoint ({self.ctx.s3.url}). Create it first, e.g. "
                    f"aws --endpoint-url {self.ctx.s3.url} s3 mb s3://{bucket}"
                )


def _encode_token(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["i"])
    except Exception as err:
        raise ValidationException("Invalid pagination token") from err
