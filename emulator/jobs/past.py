"""What stands in for the runner of a job an earlier endpoint process ran: that run is over."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator.jobs.model import TrainingJob


@dataclass
class _PastCursor:
    unfired: list[str] = field(default_factory=list)


class _Joined:
    """A thread that has ended: joining returns at once."""

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        return False


class PastRun:
    """The runner's face of a finished job read back from the job history: readable
    (its lock, its unfired triggers), with nothing left to stop, kill or interrupt."""

    def __init__(self, job: TrainingJob, unfired: Sequence[str] = ()) -> None:
        self.job = job
        self.lock = threading.Lock()
        self.cursor = _PastCursor(list(unfired))
        self.thread = _Joined()

    def request_stop(self) -> None:
        return None

    def request_interrupt(self, why: str = "manual") -> bool:
        return False

    def kill_now(self) -> None:
        return None
