"""One job run to its end by the real JobRunner on a scripted FakeEngine (no daemon), with the
checkpoint and artifact traffic on a real S3 server: the harness of the runner's unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator import contract
from emulator.faults.s3_routes import ContainerFaultRoutes
from emulator.jobs.clock import Clock
from emulator.jobs.context import RunnerContext
from emulator.jobs.control import JobControl
from emulator.jobs.host_paths import HostPaths
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import TrainingJob
from emulator.jobs.runner import JobRunner
from emulator.jobs.settings import JobSettings
from emulator.jobs.spec import parse_spec
from emulator.runtime.network_pool import NetworkPool
from emulator.storage.s3 import S3Endpoint
from tests.support.fake_engine import FakeEngine


def training_request(name: str, bucket: str, *, hosts: int = 1, max_runtime: int = 60,
                     resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CreateTrainingJob request of the fake image, its output in `bucket`: `hosts`
    ml.m5.large instances, or the ResourceConfig given."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "fake:latest", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out"},
        "ResourceConfig": resource or {"InstanceType": "ml.m5.large", "InstanceCount": hosts,
                                       "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def run_to_end(request: dict[str, Any], settings: JobSettings, engine: FakeEngine, clock: Clock,
               *, s3_url: str, workdir: Path, host_paths: HostPaths | None = None,
               before_start: Callable[[JobRunner], None] | None = None,
               during: Callable[[JobRunner], None] | None = None,
               network_pool: NetworkPool | None = None, gateway_socket: Path | None = None,
               container_s3_faults: ContainerFaultRoutes | None = None) -> TrainingJob:
    """Run the job of `request` to its end (60 s at most); `before_start` gets the runner
    before it starts (to schedule actions on a ManualClock), `during` once it started, in the
    test's thread. `network_pool`, `gateway_socket` and `container_s3_faults`: the endpoint's,
    as shared by its jobs."""
    name = request["TrainingJobName"]
    job = TrainingJob(spec=parse_spec(request, settings),
                      arn=contract.training_job_arn(name, "us-east-1"), creation_time=clock.now())
    lifecycle = JobLifecycle(job, clock)
    lifecycle.created()
    endpoint = S3Endpoint(s3_url)
    ctx = RunnerContext(engine=engine, s3=endpoint, logs=endpoint, workdir=workdir,
                        server_id="t",
                        host_paths=HostPaths() if host_paths is None else host_paths,
                        network_pool=network_pool, gateway_socket=gateway_socket,
                        container_s3_faults=container_s3_faults or ContainerFaultRoutes())
    runner = JobRunner(ctx, job=job, lifecycle=lifecycle, control=JobControl(),
                       lock=threading.Lock())
    if before_start:
        before_start(runner)
    runner.start()
    if during:
        during(runner)
    runner.join(60)
    assert not runner.thread.is_alive()
    return job
