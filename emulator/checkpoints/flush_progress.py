"""How far the final flush of a checkpoint mirror is (the uploads still pending when the
container ended, e.g. at an interruption's grace or kill), for the emulator's report.

The mirror calls ``begin`` as the flush starts, ``add`` with the paths it has to upload (what
is pending, and the paths the closing reconcile will find), ``sending`` as a streamed upload
reads a file, ``finished`` as each path is dealt with and ``end`` when it is over; anyone may
read ``snapshot()`` meanwhile (thread-safe).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


class FlushProgress:
    """Files and bytes of one mirror's final flush: done of the total."""

    def __init__(self, local_dir: Path, clock: Callable[[], float] = time.time,
                 every: float = 0.2) -> None:
        self._dir = local_dir
        self._clock = clock
        self.every = every  # how often the bytes of uploads under way are published
        self._published = float("-inf")
        self._sent: dict[str, int] = {}  # bytes sent so far of the paths still uploading
        self._lock = threading.Lock()
        self._notify = threading.Lock()  # one snapshot at a time, each as new as the last
        self._sizes: dict[str, int] = {}  # every path of the flush and its size
        self._done: set[str] = set()
        self._started: float | None = None
        self._ended: float | None = None
        self.on_change: Callable[[dict[str, Any] | None], None] | None = None  # each snapshot

    def begin(self) -> None:
        with self._lock:
            self._started = self._clock()
        self._changed()

    def add(self, paths: Iterable[str]) -> None:
        sizes = {rel: self._size(rel) for rel in paths}
        with self._lock:
            for rel, size in sizes.items():
                if rel not in self._sizes:
                    self._sizes[rel] = size
                elif rel in self._done:  # changed again since its upload: once more
                    self._done.discard(rel)
                    self._sizes[rel] = size
                    self._sent.pop(rel, None)
        self._changed()

    def sending(self, rel: str, sent: int) -> None:
        """`sent` bytes of `rel`'s upload are on their way (a streamed upload's reads)."""
        with self._lock:
            if self._started is None or self._ended is not None or rel not in self._sizes:
                return
            self._sent[rel] = min(sent, self._sizes[rel])
            now = self._clock()
            if now - self._published < self.every:
                return
        self._changed()

    def finished(self, rel: str) -> None:
        with self._lock:
            if self._started is None or self._ended is not None or rel not in self._sizes:
                return
            self._done.add(rel)
            self._sent.pop(rel, None)
        self._changed()

    def end(self, *, complete: bool) -> None:
        """`complete`: the flush dealt with every path (no error, no timeout), also those that
        finished before they were counted."""
        with self._lock:
            if self._started is not None and self._ended is None:
                self._ended = self._clock()
                if complete:
                    self._done = set(self._sizes)
        self._changed()

    def snapshot(self) -> dict[str, Any] | None:
        """None before any flush; else the files and bytes done of the total, and whether the
        flush is over."""
        with self._lock:
            if self._started is None:
                return None
            return {
                "FilesDone": len(self._done),
                "FilesTotal": len(self._sizes),
                "BytesDone": sum(self._sizes[rel] for rel in self._done)
                + sum(sent for rel, sent in self._sent.items() if rel not in self._done),
                "BytesTotal": sum(self._sizes.values()),
                "StartedAt": self._started,
                "EndedAt": self._ended,
            }

    def _changed(self) -> None:
        if self.on_change is not None:
            with self._notify:
                with self._lock:
                    self._published = self._clock()
                try:
                    self.on_change(self.snapshot())
                except Exception:  # progress must never break the flush
                    return

    def _size(self, rel: str) -> int:
        try:
            return os.stat(self._dir / rel).st_size
        except OSError:  # gone already: a deletion, nothing to send
            return 0
