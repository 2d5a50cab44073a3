"""How many times each job changed, and a wait for its next change: the long-poll behind
``GET /_smemu/jobs/NAME/changes`` that `smemu run` follows a job with, woken by the change
itself instead of finding it at its next DescribeTrainingJob poll."""

from __future__ import annotations

import threading

MAX_WAIT_S = 20.0  # one wait's longest: a client asks again (and its connection stays short)


class JobChanges:
    """A change count per job (by lower-case name, as the service keys its jobs)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counts: dict[str, int] = {}

    def changed(self, name: str) -> None:
        """The job changed (a lifecycle event, a StatusMessage, its tags): wake its waiters."""
        key = name.lower()
        with self._changed:
            self._counts[key] = self._counts.get(key, 0) + 1
            self._changed.notify_all()

    def forget(self, name: str) -> None:
        with self._changed:
            self._counts.pop(name.lower(), None)

    def wait(self, name: str, after: int, timeout: float) -> int:
        """The job's change count once it is above `after`, or as it is after `timeout`
        seconds (at most MAX_WAIT_S)."""
        key = name.lower()
        with self._changed:
            self._changed.wait_for(lambda: self._counts.get(key, 0) > after,
                                   timeout=min(max(timeout, 0.0), MAX_WAIT_S))
            return self._counts.get(key, 0)
