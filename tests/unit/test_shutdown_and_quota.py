"""The endpoint's shutdown as StopTrainingJob with a budget, and the quota on running instances,
without Docker: the runner on a scripted engine in virtual time, the service with idle runners."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from emulator.api.sagemaker import SageMakerHandler
from emulator.contract import JobStatus
from emulator.errors import EndpointUnavailable, ResourceLimitExceeded
from emulator.jobs.control import STOPPED_BY_SHUTDOWN, JobControl
from emulator.jobs.quota import (
    ENV_MAX_INSTANCES,
    check_instance_quota,
    instance_limit,
    machine_instance_limit,
    quota_message,
)
from emulator.jobs.runner import JobRunner
from tests.support.fake_engine import Script
from tests.unit._s3server import MotoS3
from tests.unit.test_multi_host_runner import moto, run_job, wait_training  # noqa: F401
from tests.unit.test_service_operations import GOOD, make_service

GIB = 1024 ** 3


def test_shutdown_cuts_the_grace_to_the_budget_then_kills_and_uploads(moto: MotoS3,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    def shut_down(runner: JobRunner) -> None:
        wait_training(runner)
        runner.control.shut_down(runner.clock.monotonic() + 3.0)

    job, engine, _ = run_job(moto, tmp_path, {"algo-1": Script()},  # ignores SIGTERM
                             grace=120.0, during=shut_down)
    assert job.status == JobStatus.STOPPED, job.failure_reason
    (handle,) = engine.handles
    assert handle.signals == [signal.SIGTERM, signal.SIGKILL]
    (attempt,) = job.attempts
    assert attempt.grace_period == pytest.approx(3.0, abs=0.5)  # not the job's 120 s
    assert attempt.stopped_by == STOPPED_BY_SHUTDOWN and attempt.sigkilled
    assert job.model_artifacts  # the model was still uploaded, as after StopTrainingJob


def test_shutdown_during_a_stop_ends_its_long_grace_early(moto: MotoS3,  # noqa: F811
                                                         tmp_path: Path) -> None:
    def shut_down(runner: JobRunner) -> None:
        runner.control.shut_down(runner.clock.monotonic() + 2.0)

    # StopTrainingJob at 5 s (virtual) starts a 100 s grace; the endpoint stops at 10 s.
    job, engine, _ = run_job(moto, tmp_path, {"algo-1": Script()}, grace=100.0, at={
        5.0: lambda runner: runner.control.request_stop(), 10.0: shut_down})
    assert job.status == JobStatus.STOPPED
    (attempt,) = job.attempts
    assert attempt.stopped_by == "StopTrainingJob"  # the user's stop came first
    assert 5.0 < attempt.grace_period < 8.0  # from the stop to 2 s after the shutdown
    assert engine.handles[0].signals == [signal.SIGTERM, signal.SIGKILL]


def test_a_trainer_that_handles_sigterm_ends_within_the_budget_unkilled(
        moto: MotoS3, tmp_path: Path) -> None:  # noqa: F811
    def shut_down(runner: JobRunner) -> None:
        wait_training(runner)
        runner.control.shut_down(runner.clock.monotonic() + 30.0)

    job, engine, _ = run_job(moto, tmp_path, {"algo-1": Script(on_term=143)}, grace=120.0,
                             during=shut_down)
    assert job.status == JobStatus.STOPPED
    assert engine.handles[0].signals == [signal.SIGTERM]
    assert not job.attempts[0].sigkilled


def test_grace_ends_is_capped_by_the_earliest_shutdown_and_cut_by_a_kill() -> None:
    control = JobControl()
    assert control.grace_ends(50.0) == 50.0 and not control.stop_requested
    control.shut_down(20.0)
    control.shut_down(30.0)  # a later budget never extends an earlier one
    assert control.stop_requested and control.grace_ends(50.0) == 20.0
    assert control.grace_ends(10.0) == 10.0
    control.kill()
    assert control.grace_ends(50.0) == float("-inf")


def test_the_quota_message_is_sagemakers_sentence() -> None:
    assert quota_message(4, 3, 2) == (
        "The account-level service limit 'Number of instances across all training jobs' is 4 "
        "Instances, with current utilization of 3 Instances and a request delta of 2 "
        "Instances. Please contact AWS support to request an increase for this limit.")
    check_instance_quota(4, 3, 1)
    with pytest.raises(ResourceLimitExceeded):
        check_instance_quota(4, 3, 2)


@pytest.mark.parametrize(("cpus", "memory", "limit"), [
    (2, 24 * GIB, 8),  # 4 per CPU
    (16, 8 * GIB, 8),  # one per GiB
    (1, 1 * GIB, 2),  # never below 2
    (2, 0, 8),  # memory unknown: CPUs decide
])
def test_the_default_comes_from_the_machine(cpus: int, memory: int, limit: int) -> None:
    assert machine_instance_limit(cpus, memory) == limit


def test_the_limit_is_the_argument_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MAX_INSTANCES, "3")
    assert instance_limit() == 3 and instance_limit(5) == 5
    monkeypatch.setenv(ENV_MAX_INSTANCES, "many")
    with pytest.raises(EndpointUnavailable, match="whole number"):
        instance_limit()
    monkeypatch.setenv(ENV_MAX_INSTANCES, "0")
    with pytest.raises(EndpointUnavailable, match="at least 1"):
        instance_limit()
    monkeypatch.delenv(ENV_MAX_INSTANCES)
    assert instance_limit() == machine_instance_limit()


def test_create_over_the_quota_is_resource_limit_exceeded_until_a_job_ends(
        tmp_path: Path, s3: MotoS3) -> None:
    service = make_service(tmp_path, s3)  # its runners never run: the jobs stay InProgress
    service.max_instances = 3
    handler = SageMakerHandler(service)

    def create(name: str, instances: int = 1) -> tuple[int, dict[str, str]]:
        request = {**GOOD, "TrainingJobName": name,
                   "ResourceConfig": {**GOOD["ResourceConfig"], "InstanceCount": instances}}
        status, answer = handler.handle("SageMaker.CreateTrainingJob",
                                        json.dumps(request).encode())
        return status, answer

    assert create("one")[0] == 200
    assert create("two", instances=2)[0] == 200
    status, answer = create("three")
    assert (status, answer["__type"]) == (400, "ResourceLimitExceeded")
    assert answer["message"] == quota_message(3, 3, 1)
    # A rejected job is not a job: its name stays free and it is not listed.
    names = [j["TrainingJobName"] for j in service.list_training_jobs({})["TrainingJobSummaries"]]
    assert sorted(names) == ["one", "two"]
    service._records["two"].job.status = JobStatus.STOPPED  # its instances are free again
    assert create("three", instances=2)[0] == 200
    status, answer = create("four")
    assert answer["message"] == quota_message(3, 3, 1)
