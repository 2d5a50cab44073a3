"""The pure state machine of a training job: events in, statuses and transitions out.

No Docker, no boto3: the runner reports what happened and this module decides what
SageMaker would show (TrainingJobStatus, SecondaryStatus, SecondaryStatusTransitions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emulator.contract import (
    FAILURE_REASON_MAX,
    TERMINAL_STATUSES,
    JobStatus,
    Msg,
    SecondaryStatus,
)
from emulator.errors import EmulatorError
from emulator.jobs.clock import Clock
from emulator.jobs.model import Attempt, Outcome, StatusTransition, TrainingJob

S = SecondaryStatus

# Which secondary statuses may follow which: a broken runner fails loudly, not silently.
_ALLOWED: dict[SecondaryStatus, frozenset[SecondaryStatus]] = {
    S.STARTING: frozenset({S.STARTING, S.DOWNLOADING, S.INTERRUPTED, S.STOPPING, S.FAILED}),
    S.DOWNLOADING: frozenset({S.TRAINING, S.STOPPING, S.FAILED, S.INTERRUPTED}),
    # Training -> Starting: a retry after an internal failure (RetryStrategy).
    S.TRAINING: frozenset({S.UPLOADING, S.INTERRUPTED, S.STOPPING, S.FAILED, S.STARTING}),
    S.INTERRUPTED: frozenset({S.STARTING, S.STOPPING, S.FAILED}),
    S.UPLOADING: frozenset({S.COMPLETED, S.FAILED, S.STOPPED, S.MAX_RUNTIME_EXCEEDED,
                            S.MAX_WAIT_TIME_EXCEEDED}),
    S.STOPPING: frozenset({S.UPLOADING, S.STOPPED, S.MAX_RUNTIME_EXCEEDED,
                           S.MAX_WAIT_TIME_EXCEEDED, S.FAILED}),
}

_PRIMARY: dict[SecondaryStatus, JobStatus] = {
    S.COMPLETED: JobStatus.COMPLETED,
    S.FAILED: JobStatus.FAILED,
    S.STOPPING: JobStatus.STOPPING,
    S.STOPPED: JobStatus.STOPPED,
    S.MAX_RUNTIME_EXCEEDED: JobStatus.STOPPED,
    S.MAX_WAIT_TIME_EXCEEDED: JobStatus.STOPPED,
}


class IllegalTransition(EmulatorError):
    pass


@dataclass(frozen=True)
class JobEnding:
    """How a job ends, decided by the runner and applied last (once nothing is left behind)."""

    status: SecondaryStatus  # Completed, Failed, or one of the Stopped secondary statuses
    failure_reason: str = ""

    @classmethod
    def completed(cls) -> JobEnding:
        return cls(S.COMPLETED)

    @classmethod
    def failed(cls, reason: str) -> JobEnding:
        return cls(S.FAILED, reason)

    @classmethod
    def stopped(cls, why: SecondaryStatus = S.STOPPED) -> JobEnding:
        return cls(why)


class JobLifecycle:
    """Applies lifecycle events to one TrainingJob."""

    def __init__(self, job: TrainingJob, clock: Clock,
                 on_change: Callable[[TrainingJob], None] | None = None) -> None:
        self.job = job
        self.clock = clock
        self.on_change = on_change  # after every event: a persistent store saves the job

    # -- events -----------------------------------------------------------------
    def created(self) -> None:
        now = self.clock.now()
        self.job.creation_time = now
        self._enter(S.STARTING, Msg.LAUNCHING, now, check=False)
        self._changed()

    def attempt_starting(self) -> Attempt:
        """A new attempt: the first one, or a restart after an interruption."""
        now = self.clock.now()
        restart = bool(self.job.attempts)
        if restart and self.job.attempts[-1].outcome == Outcome.HOST_FAILURE:
            self._enter(S.STARTING, Msg.RETRYING, now)
        elif restart:
            self._enter(S.STARTING, Msg.RESTARTING, now)
        else:
            self._enter(S.STARTING, Msg.PREPARING, now)
        attempt = Attempt(number=len(self.job.attempts) + 1, started_at=now)
        self.job.attempts.append(attempt)
        self._changed()
        return attempt

    def note(self, message: str) -> None:
        """A new StatusMessage for the current status (e.g. waiting for spot capacity)."""
        self._enter(self.job.secondary_status, message, self.clock.now(), check=False)
        self._changed()

    def downloading(self) -> None:
        self._enter(S.DOWNLOADING, Msg.DOWNLOADING, self.clock.now())
        self._changed()

    def training(self) -> None:
        now = self.clock.now()
        self._enter(S.TRAINING, Msg.TRAINING, now)
        if self.job.training_start_time is None:
            self.job.training_start_time = now
        attempt = self._attempt()
        attempt.training_started_at = now
        self._changed()

    def container_ended(self, exit_code: int | None, sigkilled: bool = False) -> None:
        now = self.clock.now()
        attempt = self._attempt()
        attempt.exit_code = exit_code
        attempt.sigkilled = sigkilled
        if attempt.training_started_at is not None and attempt.training_ended_at is None:
            attempt.training_ended_at = now
        self._changed()

    def interrupted(self, trigger: str) -> None:
        now = self.clock.now()
        attempt = self._attempt()
        attempt.interruption = trigger
        attempt.outcome = Outcome.INTERRUPTED
        self._enter(S.INTERRUPTED, Msg.INTERRUPTED, now)
        attempt.ended_at = now
        self._changed()

    def host_failed(self, trigger: str) -> None:
        """A host of the attempt was lost: the attempt ends; the job is retried or fails."""
        now = self.clock.now()
        attempt = self._attempt()
        attempt.interruption = trigger
        attempt.outcome = Outcome.HOST_FAILURE
        attempt.ended_at = now
        self._changed()

    def uploading(self) -> None:
        self._enter(S.UPLOADING, Msg.UPLOADING, self.clock.now())
        self._changed()

    def completed(self) -> None:
        now = self.clock.now()
        self._finish_attempt(Outcome.COMPLETED, now)
        self._enter(S.COMPLETED, Msg.COMPLETED, now)
        self._end(now)
        self._changed()

    def failed(self, reason: str) -> None:
        now = self.clock.now()
        reason = reason.strip()[:FAILURE_REASON_MAX] or "AlgorithmError: unknown error"
        self.job.failure_reason = reason
        self._finish_attempt(Outcome.FAILED, now)
        self._enter(S.FAILED, f"{Msg.FAILED}. Reason: {reason}"[:FAILURE_REASON_MAX], now,
                    check=False)
        self._end(now)
        self._changed()

    def stopping(self) -> None:
        self._enter(S.STOPPING, Msg.STOPPING, self.clock.now())
        self._changed()

    def stopped(self, why: SecondaryStatus = S.STOPPED) -> None:
        if why not in (S.STOPPED, S.MAX_RUNTIME_EXCEEDED, S.MAX_WAIT_TIME_EXCEEDED):
            raise IllegalTransition(f"{why.value} is not a Stopped secondary status")
        now = self.clock.now()
        message = {
            S.STOPPED: Msg.STOPPED,
            S.MAX_RUNTIME_EXCEEDED: Msg.MAX_RUNTIME,
            S.MAX_WAIT_TIME_EXCEEDED: Msg.MAX_WAIT,
        }[why]
        self._finish_attempt(Outcome.STOPPED, now)
        self._enter(why, message, now)
        self._end(now)
        self._changed()

    def end(self, ending: JobEnding) -> None:
        if ending.status == S.COMPLETED:
            self.completed()
        elif ending.status == S.FAILED:
            self.failed(ending.failure_reason)
        else:
            self.stopped(ending.status)

    # -- helpers ----------------------------------------------------------------
    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.job)

    def _attempt(self) -> Attempt:
        attempt = self.job.current_attempt
        if attempt is None:
            raise IllegalTransition("no attempt has started")
        return attempt

    def _finish_attempt(self, outcome: Outcome, now: float) -> None:
        attempt = self.job.current_attempt
        if attempt is None or attempt.ended_at is not None:
            return
        if attempt.training_started_at is None:
            outcome = Outcome.NEVER_LAUNCHED if outcome == Outcome.STOPPED else outcome
        elif attempt.training_ended_at is None:
            attempt.training_ended_at = now
        attempt.outcome = outcome
        attempt.ended_at = now

    def _end(self, now: float) -> None:
        if self.job.training_start_time is not None:
            self.job.training_end_time = now
        last = self.job.transitions[-1]
        last.end_time = now

    def _enter(self, status: SecondaryStatus, message: str, now: float, check: bool = True) -> None:
        job = self.job
        if job.status in TERMINAL_STATUSES:
            raise IllegalTransition(f"job {job.name} is already {job.status.value}")
        if check and job.transitions:
            allowed = _ALLOWED.get(job.secondary_status, frozenset())
            if status not in allowed:
                raise IllegalTransition(
                    f"{job.secondary_status.value} -> {status.value} is not a SageMaker transition"
                )
        if job.transitions and job.secondary_status == status:
            # AWS keeps one entry per stay in a status and updates its message.
            job.transitions[-1].message = message
            job.last_modified_time = now
            return
        if job.transitions:
            job.transitions[-1].end_time = now
        job.transitions.append(StatusTransition(status, now, message))
        job.secondary_status = status
        job.status = _PRIMARY.get(status, JobStatus.IN_PROGRESS)
        job.last_modified_time = now
