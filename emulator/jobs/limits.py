"""A job's StoppingCondition as checks on the job's clock."""

from __future__ import annotations

from emulator import contract
from emulator.jobs.clock import Clock
from emulator.jobs.model import TrainingJob


class JobLimits:
    def __init__(self, job: TrainingJob, clock: Clock) -> None:
        stopping = job.request.get("StoppingCondition") or {}
        self.max_runtime = float(stopping.get("MaxRuntimeInSeconds",
                                              contract.DEFAULT_MAX_RUNTIME_S))
        wait = stopping.get("MaxWaitTimeInSeconds")
        self.max_wait = float(wait) if job.is_spot and wait else None
        self._job = job
        self._clock = clock

    def training_seconds_used(self) -> float:
        return sum(a.training_seconds for a in self._job.attempts)

    def max_wait_exceeded(self) -> bool:
        return self.max_wait is not None and \
            self._clock.now() - self._job.creation_time >= self.max_wait
