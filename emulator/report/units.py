"""How the views write sizes, durations and times."""

from __future__ import annotations

import time


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def clock(at: float) -> str:
    """Local time of day to a tenth of a second."""
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 10) % 10}"


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
