"""A job's StoppingCondition as checks on the job's clock."""

from __future__ import annotations

from emulator.jobs.clock import Clock
from emulator.jobs.model import TrainingJob


class JobLimits:
    def __init__(self, job: TrainingJob, clock: Clock) -> None:
        self.max_runtime = job.spec.max_runtime
        self.max_wait = job.spec.max_wait
        self._job = job
        self._clock = clock

    def training_seconds_used(self) -> float:
        return sum(a.training_seconds for a in self._job.attempts)

    def training_seconds_so_far(self) -> float:
        """The job's training time over its attempts, the running one's up to now."""
        total = 0.0
        for attempt in list(self._job.attempts):
            if attempt.training_started_at is None:
                continue
            end = attempt.training_ended_at
            total += max(0.0, (self._clock.now() if end is None else end)
                         - attempt.training_started_at)
        return total

    def max_wait_left(self) -> float:
        """Seconds until MaxWaitTimeInSeconds is reached (infinite without one)."""
        if self.max_wait is None:
            return float("inf")
        return self.max_wait - (self._clock.now() - self._job.creation_time)

    def max_wait_exceeded(self) -> bool:
        return self.max_wait is not None and \
            self._clock.now() - self._job.creation_time >= self.max_wait
