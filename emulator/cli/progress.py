"""Progress of long work in the terminal (rich), and the compact coloured timeline `smemu run`
ends with. Both only on a terminal: piped output and `--json` stay plain lines.

The endpoint reports a large restore or download in the job's StatusMessage ("Restoring
checkpoints: 10.0 MiB of 65.0 MiB (15%), 3 files started, 5.0 MiB/s, about 11 s left"); on a
terminal that becomes one live bar with bytes, rate and time left.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported where it draws, on a terminal: piped runs never need it
    from rich.console import Console
    from rich.progress import Progress
    from rich.text import Text

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_SIZE = r"([\d.]+) (B|KiB|MiB|GiB|TiB)"
PROGRESS_LINE = re.compile(rf"^(?P<label>[^:]+): {_SIZE} of {_SIZE} \(")
START_LINE = re.compile(rf"^(?P<label>[^:]+): {_SIZE} to download$")
DONE_LINE = re.compile(r"^(?P<label>[^:]+): done, ")
# What each secondary status looks like in the compact timeline.
STYLES = {"Starting": "grey50", "Downloading": "blue", "Training": "green",
          "Uploading": "magenta", "Stopping": "red"}


def is_terminal() -> bool:
    return sys.stdout.isatty()


def _bytes(number: str, unit: str) -> int:
    return int(float(number) * UNITS[unit])


def parse_progress(message: str) -> tuple[str, int, int] | None:
    """(label, bytes done, bytes in all) of a progress StatusMessage, or None."""
    if match := PROGRESS_LINE.match(message):
        _, done, done_unit, total, total_unit = match.groups()
        return match["label"], _bytes(done, done_unit), _bytes(total, total_unit)
    if match := START_LINE.match(message):
        return match["label"], 0, _bytes(match[2], match[3])
    return None


class StatusProgress:
    """Live bars for the progress StatusMessages of one followed job (on a terminal)."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console()
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def show(self, message: str) -> bool:
        """Draw `message` if it is progress; False when it is not (print it as usual)."""
        from rich.text import Text

        parsed = parse_progress(message)
        if parsed is None:
            done = DONE_LINE.match(message)
            if done and done["label"] in self._tasks:
                self._finish(done["label"])
                self.console.print(Text(f"    {message}", style="cyan"))
                return True
            return False
        label, completed, total = parsed
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("    [cyan]{task.description}"), BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), TimeRemainingColumn(), console=self.console,
                transient=True)
            self._progress.start()
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(label, total=total)
        self._progress.update(self._tasks[label], completed=completed, total=total)
        return True

    def _finish(self, label: str) -> None:
        if self._progress is not None:
            self._progress.remove_task(self._tasks.pop(label))
            if not self._tasks:
                self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()


def compact_timeline(job: Mapping[str, Any], report: Mapping[str, Any],
                     width: int = 60) -> list[Text]:
    """One coloured line per attempt and host, all to one time scale: the statuses as blocks,
    `|` for each checkpoint upload, `!` at the interruption, `x` for a SIGKILL."""
    from rich.text import Text

    attempts = list(report.get("Attempts") or [])
    transitions = list(job.get("SecondaryStatusTransitions") or [])
    if not attempts or not transitions:
        return []
    times = [_epoch(t["StartTime"]) for t in transitions]
    start = min(times + [a["StartedAt"] for a in attempts])
    end = max(times + [a.get("EndedAt") or a["StartedAt"] for a in attempts])
    span = max(end - start, 1e-6)

    def column(at: float) -> int:
        return min(width - 1, max(0, int((at - start) / span * width)))

    statuses = [(str(t["Status"]), _epoch(t["StartTime"])) for t in transitions]
    lines = []
    for attempt in attempts:
        for view in attempt.get("Hosts") or [attempt]:
            cells: list[tuple[str, str]] = [(" ", "")] * width
            begin = attempt["StartedAt"] if attempt["Attempt"] > 1 else start
            finish = attempt.get("EndedAt") or end
            for index, (status, at) in enumerate(statuses):
                until = statuses[index + 1][1] if index + 1 < len(statuses) else end
                low, high = max(at, begin), min(until, finish)
                if status in STYLES and high > low:
                    for c in range(column(low), max(column(high), column(low) + 1)):
                        cells[c] = ("█", STYLES[status])
            for upload in view.get("CheckpointsUploaded") or []:
                if upload.get("at"):
                    cells[column(upload["at"])] = ("|", "bold white")
            if attempt.get("InterruptedAt"):
                cells[column(attempt["InterruptedAt"])] = ("!", "bold red")
                if view.get("SigKilled"):
                    grace = attempt.get("GracePeriodSeconds") or 0
                    cells[column(attempt["InterruptedAt"] + grace)] = ("x", "bold red")
            line = Text(f"    attempt {attempt['Attempt']} {view.get('Host') or 'algo-1':<7} ")
            for char, style in cells:
                line.append(char, style=style)
            line.append(f"  {attempt.get('Outcome') or 'running'}")
            lines.append(line)
    return lines


def _epoch(value: Any) -> float:
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)
