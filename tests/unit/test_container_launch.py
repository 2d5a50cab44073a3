"""The next attempt's containers are made while its checkpoints are restored and started only
after the restore and the channels' download (a scripted engine, virtual time, a real S3
server): the order, and no container made and left behind on a stop, a failed restore, or a
host that could not be made."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator import contract
from emulator.errors import ContainerStartError
from emulator.jobs.clock import ManualClock
from emulator.jobs.launch import start_all
from emulator.jobs.model import TrainingJob
from emulator.jobs.runner import JobRunner
from emulator.jobs.settings import JobSettings
from tests.support.fake_engine import FakeEngine, Script
from tests.support.fake_runs import run_to_end
from tests.unit._s3server import MotoS3

BUCKET = "container-launch"
STATE = b"x" * 100_000


@pytest.fixture(scope="module")
def moto(s3: MotoS3) -> MotoS3:
    """The unit tests' module-scoped moto server (tests/unit/conftest.py), with the bucket."""
    s3.client().create_bucket(Bucket=BUCKET)
    return s3


def _request(name: str, hosts: int) -> dict[str, Any]:
    return {
        "TrainingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "fake:latest", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": hosts,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "CheckpointConfig": {"S3Uri": f"s3://{BUCKET}/ckpt/{name}"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/{name}"}}}]}


def _until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _run(moto: MotoS3, tmp_path: Path, scripts: dict[str, Script],
         in_restore: Callable[[JobRunner, FakeEngine], None] | None = None,
         ) -> tuple[TrainingJob, FakeEngine]:
    """A job whose prefix holds a checkpoint and whose channel a file; the restore records
    its end in the engine's events once every container is made (or 10 s passed), after
    `in_restore`."""
    name = f"launch-{time.time_ns()}"
    client = moto.client()
    client.put_object(Bucket=BUCKET, Key=f"ckpt/{name}/state.bin", Body=STATE)
    client.put_object(Bucket=BUCKET, Key=f"data/{name}/train.csv", Body=b"1,2\n")
    clock = ManualClock(start=time.time())
    engine = FakeEngine(scripts, clock)

    def wrap(runner: JobRunner) -> None:
        restore, download = runner._restore_checkpoints, runner._download_channels

        def restoring(hosts: Any, attempt: Any) -> None:
            restore(hosts, attempt)
            _until(lambda: sum(e[0] == "create" for e in engine.events) == len(scripts))
            if in_restore:
                in_restore(runner, engine)
            with engine.lock:
                engine.events.append(("restored", ",".join(
                    str((d.checkpoints / "state.bin").stat().st_size) for d in hosts)))

        def downloading(*args: Any, **kwargs: Any) -> None:
            download(*args, **kwargs)
            with engine.lock:
                engine.events.append(("downloaded", ""))

        runner._restore_checkpoints = restoring  # type: ignore[method-assign]
        runner._download_channels = downloading  # type: ignore[method-assign]

    job = run_to_end(_request(name, len(scripts)), JobSettings(), engine, clock,
                     s3_url=moto.endpoint, workdir=tmp_path / "work", before_start=wrap)
    return job, engine


def test_the_containers_are_made_during_the_restore_and_started_after_it_and_the_channels(
        moto: MotoS3, tmp_path: Path) -> None:
    job, engine = _run(moto, tmp_path, {"algo-1": Script(exit_after=0.2),
                                        "algo-2": Script(exit_after=0.2)})
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    kinds = [kind for kind, _ in engine.events]
    restored = kinds.index("restored")
    assert kinds.count("create") == 2 and max(
        i for i, k in enumerate(kinds) if k == "create") < restored, engine.events
    assert engine.events[restored][1] == f"{len(STATE)},{len(STATE)}"  # complete on both
    starts = [i for i, k in enumerate(kinds) if k == "start"]
    assert len(starts) == 2 and min(starts) > kinds.index("downloaded") > restored
    assert all(h.started and h.removed for h in engine.handles)


def test_a_stop_during_the_restore_leaves_no_container(moto: MotoS3, tmp_path: Path) -> None:
    job, engine = _run(moto, tmp_path, {"algo-1": Script(exit_after=0.2)},
                       in_restore=lambda runner, _: runner.control.request_stop())
    assert job.status == contract.JobStatus.STOPPED, job.failure_reason
    (made,) = engine.handles
    assert made.removed and not made.started
    assert [k for k, _ in engine.events] == ["create", "restored", "downloaded", "remove"]
    assert job.attempts[0].outcome.value == "never-launched"


def test_a_failed_restore_leaves_no_container(moto: MotoS3, tmp_path: Path) -> None:
    def fail(runner: JobRunner, engine: FakeEngine) -> None:
        raise RuntimeError("the disk is full")

    job, engine = _run(moto, tmp_path, {"algo-1": Script(exit_after=0.2),
                                        "algo-2": Script(exit_after=0.2)}, in_restore=fail)
    assert job.status == contract.JobStatus.FAILED
    assert job.failure_reason == "InternalServerError: RuntimeError: the disk is full"
    assert len(engine.handles) == 2 and all(h.removed and not h.started for h in engine.handles)
    assert "start" not in [k for k, _ in engine.events]


def test_a_host_that_cannot_be_made_fails_the_job_and_removes_the_others(
        moto: MotoS3, tmp_path: Path) -> None:
    job, engine = _run(moto, tmp_path, {"algo-1": Script(exit_after=0.2),
                                        "algo-2": Script(create_error=True)})
    assert job.status == contract.JobStatus.FAILED
    assert job.failure_reason == ("ClientError: the training container could not start: "
                                  "No such image: fake:latest")
    (made,) = engine.handles  # algo-1's; algo-2 was never made
    assert made.removed and not made.started
    kinds = [k for k, _ in engine.events]
    assert "start" not in kinds and kinds.index("remove") > kinds.index("downloaded")


class Slow:
    """A container whose start answers only once every host's start was asked for."""

    def __init__(self, name: str, everyone: threading.Barrier, fails: bool = False) -> None:
        self.name = name
        self.everyone = everyone
        self.fails = fails
        self.started = False

    def start(self) -> None:
        self.everyone.wait(timeout=10)  # BrokenBarrierError: the hosts came one by one
        if self.fails:
            raise ContainerStartError(f"{self.name}: address already in use")
        self.started = True


def test_the_hosts_are_started_at_once_and_a_failure_is_raised_after_all_answered() -> None:
    everyone = threading.Barrier(3)
    hosts = [Slow("algo-1", everyone), Slow("algo-2", everyone, fails=True),
             Slow("algo-3", everyone)]
    with pytest.raises(ContainerStartError, match="algo-2"):
        start_all(hosts)  # type: ignore[arg-type]
    assert [h.started for h in hosts] == [True, False, True]
