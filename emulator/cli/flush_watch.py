"""The final flush of a large checkpoint (at an interruption's grace or kill, or any attempt's
end) as progress while `smemu run` follows a job.

DescribeTrainingJob shows what SageMaker would, so the flush is read from the emulator's own
report (``GET /_smemu/jobs/NAME``: each attempt's ``CheckpointFlush``) and turned into the same
progress lines as a restore: a live bar on a terminal (StatusProgress), plain lines otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import click

from emulator.cli.progress import StatusProgress
from emulator.sizes import PROGRESS_THRESHOLD, human_bytes

LABEL = "Flushing checkpoints"
KEYS = ("FilesDone", "FilesTotal", "BytesDone", "BytesTotal")


def attempt_flushes(report: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(attempt number, flush) of each attempt that flushed, oldest first: the hosts' flushes
    summed for a multi-instance attempt (it ends when the last host's does)."""
    found = []
    for attempt in report.get("Attempts") or []:
        flushes = [h.get("CheckpointFlush") for h in attempt.get("Hosts") or [attempt]]
        flushes = [f for f in flushes if f]
        if flushes:
            total: dict[str, Any] = {key: sum(int(f[key]) for f in flushes) for key in KEYS}
            total["StartedAt"] = min(float(f["StartedAt"]) for f in flushes)
            ended = [f.get("EndedAt") for f in flushes]
            total["EndedAt"] = None if None in ended else max(float(e) for e in ended if e)
            found.append((int(attempt["Attempt"]), total))
    return found


def flush_line(flush: Mapping[str, Any], now: float) -> str:
    """A flush as a progress line `emulator.cli.progress` parses (bar) or a done line."""
    done, total = int(flush["BytesDone"]), int(flush["BytesTotal"])
    files = f"{flush['FilesDone']} of {flush['FilesTotal']} files"
    if flush.get("EndedAt") is not None:
        seconds = max(float(flush["EndedAt"]) - float(flush["StartedAt"]), 1e-6)
        return (f"{LABEL}: done, {files}, {human_bytes(done)} of {human_bytes(total)} "
                f"in {seconds:.1f} s")
    pct = 100.0 * done / total if total else 100.0
    elapsed = max(now - float(flush["StartedAt"]), 0.0)
    return (f"{LABEL}: {human_bytes(done)} of {human_bytes(total)} ({pct:.0f}%), {files}, "
            f"{elapsed:.0f} s so far")


class FlushWatch:
    """Called on every tick of `follow`: polls the report now and then, shows a large flush."""

    def __init__(self, fetch: Callable[[], Mapping[str, Any]],
                 progress: StatusProgress | None, *, every: float = 0.5,
                 plain_every: float = 2.0, threshold: int = PROGRESS_THRESHOLD,
                 clock: Callable[[], float] = time.time,
                 echo: Callable[[str], None] | None = None) -> None:
        self._fetch = fetch
        self._progress = progress
        self._every = every
        self._plain_every = plain_every
        self._threshold = threshold
        self._clock = clock
        self._echo = echo or _echo
        self._polled = self._printed = float("-inf")
        self._finished: set[int] = set()  # attempts whose flush was shown to its end

    def __call__(self) -> None:
        now = self._clock()
        if now - self._polled < self._every:
            return
        self._polled = now
        try:
            found = attempt_flushes(self._fetch())
        except Exception:  # progress must never break following the job
            return
        # Every attempt's, not just the newest: a short next attempt may end before the poll
        # that would have seen this flush end.
        for attempt, flush in found:
            if attempt not in self._finished and int(flush["BytesTotal"]) >= self._threshold:
                self._show(attempt, flush, now)

    def _show(self, attempt: int, flush: Mapping[str, Any], now: float) -> None:
        line = flush_line(flush, now)
        ended = flush.get("EndedAt") is not None
        if ended:
            self._finished.add(attempt)
        if self._progress is not None and self._progress.show(line):
            return
        if ended or now - self._printed >= self._plain_every:
            self._printed = now
            self._echo(line)

def _echo(line: str) -> None:
    click.echo(click.style(f"    {line}", fg="cyan"))
