"""What stands in for the runner of a job an earlier endpoint process ran: that run is over."""

from __future__ import annotations

from collections.abc import Sequence


class PastRun:
    """The runner of a finished job read back from the job history: nothing left to run;
    its unfired triggers are what the history kept."""

    def __init__(self, unfired: Sequence[str] = ()) -> None:
        self._unfired = list(unfired)

    def start(self) -> None:
        return None

    def join(self, timeout: float | None = None) -> None:
        return None

    def unfired_triggers(self) -> list[str]:
        return list(self._unfired)
