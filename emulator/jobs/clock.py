"""The one clock of a job: wall time, monotonic time and waiting, injected so that the state
machine, billing and the runner's deadlines are testable without sleeping."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall time (seconds since the epoch): what timestamps and reports show."""
        ...

    def monotonic(self) -> float:
        """For deadlines: never goes back."""
        ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until `event` is set or `timeout` seconds passed; whether it is set."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock:
    """A clock for tests: time moves only when told to (`advance`), or when a wait would
    otherwise block: once `settle` seconds of real time show that nothing else will set its
    event, time jumps to the wait's end, or to the next call scheduled with `call_at` if that
    comes first (the call runs then). Deadlines are then exact, whatever the machine's load."""

    def __init__(self, start: float = 1_700_000_000.0, settle: float = 0.02) -> None:
        self._now = start
        self._settle = settle
        self._lock = threading.RLock()
        self._calls: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time on, running every scheduled call that falls due on the way, in order."""
        with self._lock:
            target = self._now + max(0.0, seconds)
            while self._calls and self._calls[0][0] <= target:
                at, _, call = heapq.heappop(self._calls)
                self._now = max(self._now, at)
                call()
            self._now = target

    def call_at(self, at: float, call: Callable[[], None]) -> None:
        """Run `call` when time reaches `at` (a fake container's exit, say)."""
        with self._lock:
            heapq.heappush(self._calls, (at, next(self._order), call))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        deadline = self._now + max(0.0, timeout)
        while not event.wait(self._settle):
            with self._lock:
                if self._now >= deadline:
                    return False
                due = self._calls[0][0] if self._calls else deadline
                self.advance(min(due, deadline) - self._now)
        return True

    def sleep(self, seconds: float) -> None:
        self.wait(threading.Event(), seconds)
