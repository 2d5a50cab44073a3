"""Progress of a restore, as a few readable lines instead of a callback per chunk.

``RestoreProgress`` is a ``ProgressCallback`` for ``restore()``: it stays silent for small
restores and, once the total is above ``threshold_bytes``, emits one line when the restore starts,
one every ``every_seconds`` and one at the end (``finish``). ``emit`` gets the line; the caller
decides where it goes (a logger, the job's StatusMessage, a log stream, a terminal).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from emulator.checkpoints.restore import RestoreReport
from emulator.sizes import PROGRESS_THRESHOLD, human_bytes

DEFAULT_THRESHOLD = PROGRESS_THRESHOLD

__all__ = ["DEFAULT_THRESHOLD", "RestoreProgress", "human_bytes"]


class RestoreProgress:
    """Throttled progress lines for a restore (thread-safe: transfer threads call it)."""

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        threshold_bytes: int = DEFAULT_THRESHOLD,
        every_seconds: float = 2.0,
        label: str = "Restoring checkpoints",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self.threshold = threshold_bytes
        self.every = every_seconds
        self.label = label
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._last: float | None = None
        self._paths: set[str] = set()
        self.lines: list[str] = []  # everything emitted, for reports and tests
        self.done_bytes = self.total_bytes = 0  # as last reported

    @property
    def files_started(self) -> int:
        return len(self._paths)

    @property
    def active(self) -> bool:
        """True once the restore was found large enough to report."""
        return self._last is not None

    def __call__(self, done: int, total: int, relative: str) -> None:
        line: str | None = None
        with self._lock:
            now = self._clock()
            if self._started is None:
                self._started = now
            self._paths.add(relative)
            self.done_bytes, self.total_bytes = done, total
            if total < self.threshold:
                return
            if self._last is None:
                self._last = now
                line = f"{self.label}: {human_bytes(total)} to download"
            elif now - self._last >= self.every:
                self._last = now
                line = self._summary(done, total, now)
        if line is not None:
            self._send(line)

    def _summary(self, done: int, total: int, now: float) -> str:
        elapsed = max(now - (self._started or now), 1e-6)
        rate = done / elapsed
        pct = 100.0 * done / total if total else 100.0
        text = (f"{self.label}: {human_bytes(done)} of {human_bytes(total)} ({pct:.0f}%), "
                f"{len(self._paths)} files started, {human_bytes(rate)}/s")
        if rate > 0 and done < total:
            text += f", about {max(1, round((total - done) / rate))} s left"
        return text

    def finish(self, report: RestoreReport) -> str | None:
        """The closing line (emitted only if the restore was reported at all)."""
        return self.finish_transfer(len(report.files), report.total_bytes, report.seconds)

    def finish_transfer(self, files: int, total_bytes: int, seconds: float) -> str | None:
        """The closing line of any transfer reported through this object (a channel download
        too), emitted only if it was reported at all."""
        if not self.active and total_bytes < self.threshold:
            return None
        line = (f"{self.label}: done, {files} files, "
                f"{human_bytes(total_bytes)} in {seconds:.1f} s "
                f"({human_bytes(total_bytes / max(seconds, 1e-6))}/s)")
        self._send(line)
        return line

    def _send(self, line: str) -> None:
        self.lines.append(line)
        try:
            self._emit(line)
        except Exception:  # progress must never break the restore
            return
