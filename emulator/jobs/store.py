"""Where jobs live: the service's record of each job, and the store that keeps their
histories (in memory, or written through to SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from emulator.jobs.control import JobControl
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import TrainingJob


class Runner(Protocol):
    """What the service asks of the thing that runs a job (jobs.runner.JobRunner, or
    jobs.past.PastRun for a job an earlier endpoint process ran)."""

    def start(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def unfired_triggers(self) -> list[str]: ...


class RunnerFactory(Protocol):
    def __call__(self, *, job: TrainingJob, lifecycle: JobLifecycle, control: JobControl,
                 lock: threading.Lock) -> Runner: ...


@dataclass(frozen=True)
class JobRecord:
    """Everything the service keeps of one job."""

    job: TrainingJob  # its spec carries the emulator's settings too
    control: JobControl  # StopTrainingJob, interruptions, the endpoint's shutdown
    lock: threading.Lock  # guards the job against API reads mid-update
    runner: Runner

    @property
    def name(self) -> str:
        return self.job.name


class JobStore(Protocol):
    """Keeps the jobs' histories; the service reads its records, and tells the store."""

    def add(self, job: TrainingJob) -> None: ...
    def get(self, name: str) -> TrainingJob | None: ...
    def all(self) -> list[TrainingJob]: ...
    def remove(self, name: str) -> None: ...
    def save(self, job: TrainingJob, unfired: Sequence[str] = ()) -> None:
        """The job changed (a transition, an attempt's end, its tags): keep it."""


class InMemoryJobStore:
    """Jobs by name (AWS compares names case-insensitively for uniqueness)."""

    def __init__(self) -> None:
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.RLock()

    def add(self, job: TrainingJob) -> None:
        with self._lock:
            self._jobs[job.name.lower()] = job

    def get(self, name: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(name.lower())

    def all(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._jobs.values())

    def remove(self, name: str) -> None:
        with self._lock:
            self._jobs.pop(name.lower(), None)

    def save(self, job: TrainingJob, unfired: Sequence[str] = ()) -> None:
        """Memory holds the job itself: nothing to write."""
