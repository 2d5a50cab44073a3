"""Where jobs live: one record per job, behind one small interface, so that a persistent store
can replace memory later."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from emulator.jobs.control import JobControl
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import TrainingJob


class Runner(Protocol):
    """What the service asks of the thing that runs a job (jobs.runner.JobRunner)."""

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
    def add(self, record: JobRecord) -> None: ...
    def get(self, name: str) -> JobRecord | None: ...
    def all(self) -> list[JobRecord]: ...
    def remove(self, name: str) -> None: ...


class InMemoryJobStore:
    """Records by job name (AWS compares names case-insensitively for uniqueness)."""

    def __init__(self) -> None:
        self._records: dict[str, JobRecord] = {}
        self._lock = threading.RLock()

    def add(self, record: JobRecord) -> None:
        with self._lock:
            self._records[record.name.lower()] = record

    def get(self, name: str) -> JobRecord | None:
        with self._lock:
            return self._records.get(name.lower())

    def all(self) -> list[JobRecord]:
        with self._lock:
            return list(self._records.values())

    def remove(self, name: str) -> None:
        with self._lock:
            self._records.pop(name.lower(), None)
