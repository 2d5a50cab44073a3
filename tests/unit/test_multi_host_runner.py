"""The multi-instance runner against a scripted fake Docker engine (no daemon): how hosts that
exit, fail, ignore SIGTERM or never start end an attempt, and what the report says of them.

The jobs run on a ManualClock: the scripted exits, grace periods and runtime limits happen in
virtual time, so what the tests say of durations holds however loaded the machine is.
"""

from __future__ import annotations

import functools
import io
import signal
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator import contract
from emulator.faults.plan import parse_plan
from emulator.jobs.clock import Clock, ManualClock, SystemClock
from emulator.jobs.model import TrainingJob
from emulator.jobs.runner import JobRunner
from emulator.jobs.settings import CheckpointFlush, JobSettings
from tests.support.fake_engine import FakeEngine, Script
from tests.support.fake_runs import run_to_end, training_request
from tests.unit._s3server import MotoS3

BUCKET = "runner-fake"


@pytest.fixture(scope="module")
def moto(s3: MotoS3) -> MotoS3:
    """The unit tests' module-scoped moto server (tests/unit/conftest.py), with the bucket."""
    s3.client().create_bucket(Bucket=BUCKET)
    return s3


def run_job(moto: MotoS3, tmp_path: Path, scripts: dict[str, Script], *,
            checkpoints: bool = False, grace: float = 5.0,
            flush: CheckpointFlush = CheckpointFlush.FLUSH,
            during: Callable[[JobRunner], None] | None = None,
            at: dict[float, Callable[[JobRunner], None]] | None = None, max_runtime: int = 60,
            spot: bool = False, clock: Clock | None = None, plan: tuple[str, ...] = (),
            ) -> tuple[TrainingJob, FakeEngine, Path]:
    """Run one job to its end; `during` runs in the test's thread once the job started,
    `at` maps virtual seconds after the start to actions (a ManualClock runs them then)."""
    # Virtual time starts now: log events and S3 stamps stay plausible.
    clock = clock or ManualClock(start=time.time())
    name = f"job-{time.time_ns()}"
    request = training_request(name, BUCKET, hosts=len(scripts), max_runtime=max_runtime)
    if spot:
        request["EnableManagedSpotTraining"] = True
        request["StoppingCondition"]["MaxWaitTimeInSeconds"] = max_runtime * 2
    if checkpoints:
        request["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/ckpt/{name}"}
    settings = JobSettings(grace_period=grace, checkpoint_flush=flush, plan=parse_plan(plan))
    engine = FakeEngine(scripts, clock)

    def schedule(runner: JobRunner) -> None:
        for seconds, action in (at or {}).items():
            assert isinstance(clock, ManualClock)
            clock.call_at(clock.now() + seconds, functools.partial(action, runner))

    job = run_to_end(request, settings, engine, clock, s3_url=moto.endpoint,
                     workdir=tmp_path / "work", before_start=schedule, during=during)
    return job, engine, tmp_path / "work" / name


def wait_training(runner: JobRunner) -> None:
    deadline = time.monotonic() + 20
    while runner.job.secondary_status != contract.SecondaryStatus.TRAINING or \
            runner.current_run is None or \
            any(h.handle is None for h in runner.current_run.hosts):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def tar_members(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def write_failure(text: str) -> Any:
    def write(dirs: Any) -> None:
        dirs.failure_file.parent.mkdir(parents=True, exist_ok=True)
        dirs.failure_file.write_text(text)
    return write


def test_every_host_row_of_a_completed_job_has_its_outcome(moto: MotoS3, tmp_path: Path) -> None:
    job, _, _ = run_job(moto, tmp_path, {"algo-1": Script(exit_after=0.3),
                                              "algo-2": Script(exit_after=0.6)})
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    (attempt,) = [a.to_dict() for a in job.attempts]
    assert attempt["Outcome"] == "completed" and attempt["ExitCode"] == 0
    for host in attempt["Hosts"]:
        assert host["Outcome"] == "completed", host
        assert host["EndedAt"] == attempt["EndedAt"] and host["ExitCode"] == 0


def test_a_failing_host_kills_the_others_and_says_so(moto: MotoS3, tmp_path: Path) -> None:
    job, engine, workdir = run_job(moto, tmp_path, {
        "algo-1": Script(),
        "algo-2": Script(exit_after=0.3, code=3, before_exit=write_failure("algo-2 broke")),
        "algo-3": Script()})
    assert job.status == contract.JobStatus.FAILED
    assert job.failure_reason == "AlgorithmError: algo-2 broke"
    (attempt,) = [a.to_dict() for a in job.attempts]
    assert attempt["ExitCode"] == 3
    hosts = {h["Host"]: h for h in attempt["Hosts"]}
    assert hosts["algo-2"]["ExitCode"] == 3 and not hosts["algo-2"]["SigKilled"]
    for name in ("algo-1", "algo-3"):  # fail-fast: SIGKILLed by smemu, and the report says so
        assert hosts[name]["ExitCode"] == 137 and hosts[name]["SigKilled"], hosts[name]
    assert all(h["Outcome"] == "failed" for h in hosts.values())
    assert all(h.removed for h in engine.handles) and not engine.networks
    assert not workdir.exists()


def test_a_host_that_cannot_start_ends_the_hosts_already_started(
        moto: MotoS3, tmp_path: Path) -> None:
    job, engine, workdir = run_job(moto, tmp_path, {
        "algo-1": Script(), "algo-2": Script(start_error=True)})
    assert job.status == contract.JobStatus.FAILED
    assert job.failure_reason is not None and "algo-2: address already in use" in \
        job.failure_reason
    started, failed = engine.handles
    assert started.started and not failed.started
    assert started.removed and failed.removed and not engine.networks and not workdir.exists()


def test_a_stop_signals_only_the_hosts_still_running(moto: MotoS3, tmp_path: Path) -> None:
    def stop_after_algo1_exited(runner: JobRunner) -> None:
        wait_training(runner)
        assert runner.current_run is not None
        assert runner.current_run.hosts[0].exited.wait(10)
        runner.control.request_stop()

    job, engine, _ = run_job(moto, tmp_path, {"algo-1": Script(exit_after=0.2),
                                              "algo-2": Script()},  # ignores SIGTERM
                             grace=0.5, during=stop_after_algo1_exited)
    assert job.status == contract.JobStatus.STOPPED, job.failure_reason
    one, two = engine.handles
    assert one.signals == [] and two.signals == [signal.SIGTERM, signal.SIGKILL]
    (attempt,) = [a.to_dict() for a in job.attempts]
    hosts = {h["Host"]: h for h in attempt["Hosts"]}
    assert hosts["algo-1"]["ExitCode"] == 0 and not hosts["algo-1"]["SigKilled"]
    assert hosts["algo-2"]["ExitCode"] == 137 and hosts["algo-2"]["SigKilled"]
    assert attempt["SigKilled"] and attempt["Outcome"] == "stopped"
    assert all(h["Outcome"] == "stopped" for h in hosts.values())


def test_an_interruption_ends_every_host_and_the_next_attempt_restarts_all(
        moto: MotoS3, tmp_path: Path) -> None:
    accepted: list[bool] = []

    def interrupt(runner: JobRunner) -> None:  # in virtual time, while both hosts train
        assert runner.job.secondary_status == contract.SecondaryStatus.TRAINING
        accepted.append(runner.control.request_interrupt("manual"))

    job, engine, _ = run_job(moto, tmp_path, {"algo-1": Script(exit_after=2, on_term=143),
                                              "algo-2": Script(exit_after=2)},
                             grace=0.5, spot=True, at={0.5: interrupt})
    assert accepted == [True]
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    first, second = [a.to_dict() for a in job.attempts]
    assert first["Outcome"] == "interrupted" and second["Outcome"] == "completed"
    hosts = {h["Host"]: h for h in first["Hosts"]}
    assert hosts["algo-1"]["ExitCode"] == 143 and not hosts["algo-1"]["SigKilled"]
    assert hosts["algo-2"]["ExitCode"] == 137 and hosts["algo-2"]["SigKilled"]
    assert all(h["Outcome"] == "interrupted" for h in hosts.values())
    assert len(engine.handles) == 4 and all(h.removed for h in engine.handles)


def test_the_report_records_capacity_waits_and_the_restore(moto: MotoS3, tmp_path: Path) -> None:
    """What the HTML timeline draws: each wait for spot capacity (before the first launch, after
    the interruption) and each attempt's restore, in virtual time."""
    job, _, _ = run_job(moto, tmp_path, {"algo-1": Script(exit_after=3, on_term=143),
                                         "algo-2": Script(exit_after=3, on_term=143)},
                        checkpoints=True, spot=True, plan=("wait=3s", "after=1s/capacity=2s"))
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    first, second = job.attempts
    waits = [round(w.end - w.start, 1) for w in first.capacity_waits]
    assert waits == [3.0, 2.0] and not second.capacity_waits
    before, after = first.capacity_waits
    assert before.end <= (first.restore_started_at or 0) and \
        after.start >= (first.ended_at or 0) and after.end <= second.started_at
    for attempt in job.attempts:
        assert attempt.restore_started_at is not None and attempt.restore_seconds is not None
        assert attempt.started_at <= attempt.restore_started_at
        assert attempt.to_dict()["CapacityWaits"] == [
            {"Start": w.start, "End": w.end} for w in attempt.capacity_waits]


def test_a_host_that_vanishes_without_an_exit_code_does_not_complete_the_job(
        moto: MotoS3, tmp_path: Path) -> None:
    job, _, _ = run_job(moto, tmp_path, {"algo-1": Script(exit_after=0.6),
                                         "algo-2": Script(exit_after=0.2, code=None)})
    assert job.status == contract.JobStatus.FAILED
    assert job.failure_reason is not None and "algo-2" in job.failure_reason
    assert "without an exit code" in job.failure_reason


def test_a_host_that_exited_0_as_the_kill_came_is_not_reported_killed(
        moto: MotoS3, tmp_path: Path) -> None:
    job, _, _ = run_job(moto, tmp_path, {
        "algo-1": Script(exits_as_killed=0),  # finished by itself just before the SIGKILL
        "algo-2": Script(exit_after=0.3, code=2)})
    assert job.status == contract.JobStatus.FAILED
    (attempt,) = [a.to_dict() for a in job.attempts]
    hosts = {h["Host"]: h for h in attempt["Hosts"]}
    assert hosts["algo-1"]["ExitCode"] == 0 and not hosts["algo-1"]["SigKilled"]
    assert not attempt["SigKilled"]


def test_max_runtime_with_one_host_done_ends_the_other_and_uploads_the_model(
        moto: MotoS3, tmp_path: Path) -> None:
    def model_file(dirs: Any) -> None:
        (dirs.model / "algo-1.txt").write_text("done")

    # An uncapped grace (600 s) would outlast run_job's 60 s wait for the runner.
    job, engine, _ = run_job(moto, tmp_path, {
        "algo-1": Script(exit_after=0.2, before_exit=model_file), "algo-2": Script()},
        grace=600, max_runtime=2)
    assert job.status == contract.JobStatus.STOPPED
    assert job.secondary_status == contract.SecondaryStatus.MAX_RUNTIME_EXCEEDED
    one, two = engine.handles
    assert one.signals == [] and signal.SIGKILL in two.signals
    (attempt,) = [a.to_dict() for a in job.attempts]
    assert attempt["GracePeriodSeconds"] <= 2  # the grace was capped at the runtime left
    assert attempt["TrainingSeconds"] < 4  # the grace was capped at the runtime left
    # In virtual time, exactly: the limit's poll found 2 s used, and no grace was left.
    assert 2.0 <= attempt["TrainingSeconds"] < 2.3 and attempt["GracePeriodSeconds"] == 0
    hosts = {h["Host"]: h for h in attempt["Hosts"]}
    assert not hosts["algo-1"]["SigKilled"] and hosts["algo-2"]["SigKilled"]
    body = moto.client().get_object(
        Bucket=BUCKET, Key=f"out/{job.name}/output/model.tar.gz")["Body"].read()
    assert tar_members(body) == {"algo-1.txt": b"done"}


def test_hosts_failing_at_once_give_one_hosts_exit_code_and_reason(
        moto: MotoS3, tmp_path: Path) -> None:
    job, _, _ = run_job(moto, tmp_path, {
        "algo-1": Script(exit_after=0.3, code=4, before_exit=write_failure("one")),
        "algo-2": Script(exit_after=0.3, code=5, before_exit=write_failure("two"))})
    assert job.status == contract.JobStatus.FAILED
    (attempt,) = [a.to_dict() for a in job.attempts]
    assert (attempt["ExitCode"], job.failure_reason) in (
        (4, "AlgorithmError: one"), (5, "AlgorithmError: two"))
    # The other host failed by itself or was killed first: its row says which, truthfully.
    for host in attempt["Hosts"]:
        assert host["SigKilled"] == (host["ExitCode"] == 137), host


def test_files_of_a_host_that_ended_by_itself_are_not_called_torn(
        moto: MotoS3, tmp_path: Path) -> None:
    def final_checkpoint(dirs: Any) -> None:
        (dirs.checkpoints / "algo-2.ckpt").write_text("final")  # closed as it exits

    job, _, _ = run_job(moto, tmp_path, {
        "algo-1": Script(exit_after=0.5, code=3),
        # Ends by itself (exit 2) in the instant the fail-fast kill comes.
        "algo-2": Script(code=2, exits_as_killed=2, before_exit=final_checkpoint)},
        # The checkpoint package stamps file activity with real time: so does this job.
        checkpoints=True, clock=SystemClock())
    assert job.status == contract.JobStatus.FAILED
    (attempt,) = [a.to_dict() for a in job.attempts]
    two = {h["Host"]: h for h in attempt["Hosts"]}["algo-2"]
    assert two["ExitCode"] == 2 and not two["SigKilled"]
    assert two["TornFiles"] == [] and attempt["TornFiles"] == [], attempt["Flags"]


def test_a_dropped_log_stream_does_not_end_a_host_that_still_runs(
        moto: MotoS3, tmp_path: Path) -> None:
    job, _, _ = run_job(moto, tmp_path, {"algo-1": Script(exit_after=0.3),
                                         "algo-2": Script(exit_after=1.0, hiccup=True)})
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    (attempt,) = [a.to_dict() for a in job.attempts]
    assert [h["ExitCode"] for h in attempt["Hosts"]] == [0, 0]
    assert attempt["TrainingSeconds"] >= 0.9  # it waited for algo-2's real end
