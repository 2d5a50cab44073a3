"""A queue of dirty paths: one entry per path, one worker per path at a time, delays, idle wait.

Events only say "look at this path again"; workers read the file system to decide what to do,
so duplicated or reordered events are harmless. A path that is marked while a worker holds it
runs again after that worker is done, never concurrently.
"""

from __future__ import annotations

import contextlib
import heapq
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class _Item:
    not_before: float
    quiet: bool
    version: int


class PathQueue:
    """Pending paths keyed by relative path, taken in ``not_before`` order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[str, _Item] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._in_flight: set[str] = set()
        self._blocked: set[str] = set()
        self._version = 0
        self._urgent = 0
        self._closed = False

    def put(self, path: str, *, delay: float = 0.0, quiet: bool = False,
            push_back: bool = False) -> None:
        """Mark ``path`` dirty, to run ``delay`` seconds from now.

        ``quiet`` marks are probes ("maybe changed"); a non-quiet mark ("changed") wins.
        Repeated marks of a pending path: probes, and ``push_back`` marks, push it back (it
        runs ``delay`` after the last one: a debounce); other "changed" marks keep the
        earliest time (a throttle: a file rewritten more often than ``delay`` is still
        looked at every ``delay`` seconds, never starved).
        """
        with self._cond:
            if self._closed:
                return
            self._version += 1
            not_before = time.monotonic() + delay
            item = self._pending.get(path)
            if item is None:
                item = _Item(not_before, quiet, self._version)
                self._pending[path] = item
            else:
                if quiet == item.quiet:  # the same kind of mark again
                    item.not_before = max(item.not_before, not_before) if quiet or push_back \
                        else min(item.not_before, not_before)
                elif not quiet:  # "changed" overrides a probe's wait
                    item.not_before = not_before
                    item.quiet = False
                # a probe on top of a "changed" mark leaves it as it is
                item.version = self._version
            if path not in self._in_flight:
                heapq.heappush(self._heap, (item.not_before, item.version, path))
            else:
                self._blocked.add(path)
            self._cond.notify_all()

    def take(self) -> tuple[str, bool] | None:
        """Block until a path is due and not held; return (path, quiet), or None once closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                wait_for: float | None = None
                while self._heap:
                    not_before, version, path = self._heap[0]
                    item = self._pending.get(path)
                    if item is None or item.version != version:
                        heapq.heappop(self._heap)
                        continue
                    if not_before > now and not self._urgent:
                        wait_for = not_before - now
                        break
                    heapq.heappop(self._heap)
                    if path in self._in_flight:
                        self._blocked.add(path)
                        continue
                    del self._pending[path]
                    self._in_flight.add(path)
                    return path, item.quiet
                self._cond.wait(wait_for)

    def done(self, path: str) -> None:
        """Release ``path``; if it was marked meanwhile it becomes due again."""
        with self._cond:
            self._in_flight.discard(path)
            if path in self._blocked:
                self._blocked.discard(path)
                item = self._pending.get(path)
                if item is not None:
                    heapq.heappush(self._heap, (item.not_before, item.version, path))
            self._cond.notify_all()

    @property
    def urgent(self) -> bool:
        with self._cond:
            return self._urgent > 0

    @contextlib.contextmanager
    def hurry(self) -> Iterator[None]:
        """While inside, every pending path is due now (delays and quiet periods are skipped)."""
        with self._cond:
            self._urgent += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._urgent -= 1

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending or held; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def size(self) -> int:
        with self._cond:
            return len(self._pending) + len(self._in_flight)

    def paths(self) -> set[str]:
        """Every pending or held path."""
        with self._cond:
            return set(self._pending) | self._in_flight

    def drop(self) -> list[str]:
        """Forget every pending path (held ones finish); return what was dropped."""
        with self._cond:
            dropped = sorted(self._pending)
            self._pending.clear()
            self._heap.clear()
            self._blocked.clear()
            self._cond.notify_all()
            return dropped

    def close(self) -> None:
        """Refuse new marks and wake every taker (they get None)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
