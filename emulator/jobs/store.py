"""Where jobs live: one small interface, so a persistent store can replace memory later."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from emulator.jobs.model import TrainingJob


class JobStore(Protocol):
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
