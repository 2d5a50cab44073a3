"""The pure state machine: every transition SageMaker shows, with an injected clock."""

from __future__ import annotations

import pytest

from emulator.contract import JobStatus, Msg, SecondaryStatus
from emulator.jobs.billing import billable_seconds, savings_percent, training_seconds
from emulator.jobs.clock import ManualClock
from emulator.jobs.lifecycle import IllegalTransition, JobLifecycle
from emulator.jobs.model import TrainingJob
from emulator.jobs.spec import parse_spec

S = SecondaryStatus


def make(spot: bool = True) -> tuple[TrainingJob, JobLifecycle, ManualClock]:
    clock = ManualClock()
    spec = parse_spec({"TrainingJobName": "job", "EnableManagedSpotTraining": spot})
    job = TrainingJob(spec, "arn", creation_time=0)
    lifecycle = JobLifecycle(job, clock)
    lifecycle.created()
    return job, lifecycle, clock


def statuses(job: TrainingJob) -> list[str]:
    return [t.status.value for t in job.transitions]


def test_happy_path_statuses_messages_and_times() -> None:
    job, lc, clock = make(spot=False)
    lc.attempt_starting()
    clock.advance(1)
    lc.downloading()
    clock.advance(2)
    lc.training()
    clock.advance(10)
    lc.container_ended(0)
    lc.uploading()
    clock.advance(1)
    lc.completed()
    assert statuses(job) == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job.status is JobStatus.COMPLETED
    assert job.transitions[0].message == Msg.PREPARING  # one Starting entry, message updated
    assert job.transitions[2].message == Msg.TRAINING
    assert all(t.end_time is not None for t in job.transitions)
    assert job.transitions[1].end_time == job.transitions[2].start_time
    assert job.training_start_time == 1_700_000_003.0
    assert job.training_end_time == 1_700_000_014.0
    assert training_seconds(job) == 10
    assert billable_seconds(job, 0.3) == 10  # on-demand pays it all


def test_interrupted_then_resumed_same_job() -> None:
    job, lc, clock = make()
    for seconds in (5, 7):
        lc.attempt_starting()
        lc.downloading()
        lc.training()
        clock.advance(seconds)
        lc.container_ended(143)
        lc.interrupted("after=5s")
    lc.attempt_starting()
    lc.downloading()
    lc.training()
    clock.advance(8)
    lc.container_ended(0)
    lc.uploading()
    lc.completed()
    assert statuses(job) == [
        "Starting", "Downloading", "Training", "Interrupted",
        "Starting", "Downloading", "Training", "Interrupted",
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]
    assert [a.outcome for a in job.attempts] == ["interrupted", "interrupted", "completed"]
    assert training_seconds(job) == 20
    assert billable_seconds(job, 0.3) == 6
    assert savings_percent(20, 6) == pytest.approx(70.0)


def test_failure_reason_truncated_and_in_message() -> None:
    job, lc, _ = make()
    lc.attempt_starting()
    lc.downloading()
    lc.training()
    lc.container_ended(1)
    lc.failed("x" * 5000)
    assert job.status is JobStatus.FAILED
    assert len(job.failure_reason or "") == 1024
    assert job.transitions[-1].status is S.FAILED


@pytest.mark.parametrize("why", [S.STOPPED, S.MAX_RUNTIME_EXCEEDED, S.MAX_WAIT_TIME_EXCEEDED])
def test_stop_paths(why: SecondaryStatus) -> None:
    job, lc, _ = make()
    lc.attempt_starting()
    lc.downloading()
    lc.training()
    lc.stopping()
    assert job.status is JobStatus.STOPPING
    lc.uploading()
    lc.stopped(why)
    assert job.status is JobStatus.STOPPED
    assert job.secondary_status is why


def test_never_launched_spot_job() -> None:
    job, lc, _ = make()
    lc.attempt_starting()
    lc.stopping()
    lc.stopped(S.MAX_WAIT_TIME_EXCEEDED)
    assert statuses(job) == ["Starting", "Stopping", "MaxWaitTimeExceeded"]
    assert job.attempts[0].outcome == "never-launched"
    assert job.training_start_time is None


def test_illegal_transitions_are_refused() -> None:
    _, lc, _ = make()
    lc.attempt_starting()
    with pytest.raises(IllegalTransition):
        lc.uploading()  # Starting -> Uploading never happens
    lc.downloading()
    lc.training()
    lc.container_ended(0)
    lc.uploading()
    lc.completed()
    with pytest.raises(IllegalTransition):
        lc.training()  # nothing after a terminal status
    with pytest.raises(IllegalTransition):
        lc.stopped(S.COMPLETED)


def test_status_message_updates_within_a_status() -> None:
    job, lc, _ = make()
    lc.attempt_starting()
    lc.downloading()
    lc.note("Restoring checkpoints: 10 of 80 MiB")  # restore progress, not a transition
    assert [t.status for t in job.transitions][-1] is S.DOWNLOADING
    assert job.transitions[-1].message == "Restoring checkpoints: 10 of 80 MiB"
    lc.training()


def test_a_host_failure_is_retried_from_training_back_to_starting() -> None:
    job, lc, clock = make(spot=False)
    lc.attempt_starting()
    lc.downloading()
    lc.training()
    clock.advance(4)
    lc.container_ended(137, sigkilled=True)
    lc.host_failed("host-failure=4s")
    first = job.attempts[0]
    assert first.outcome.value == "host-failure" and first.interruption == "host-failure=4s"
    assert job.status is JobStatus.IN_PROGRESS  # nothing is decided until the runner retries
    lc.attempt_starting()  # the retry: Training -> Starting, no Interrupted in between
    assert statuses(job)[-2:] == ["Training", "Starting"]
    assert job.transitions[-1].message == Msg.RETRYING
    lc.downloading()
    lc.training()
    clock.advance(6)
    lc.container_ended(0)
    lc.uploading()
    lc.completed()
    assert statuses(job) == ["Starting", "Downloading", "Training", "Starting", "Downloading",
                             "Training", "Uploading", "Completed"]
    assert training_seconds(job) == 10  # the retry counts against MaxRuntimeInSeconds too
