"""One wait for readiness: poll until a probe answers, give up early when the thing died."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from emulator.errors import EndpointUnavailable

T = TypeVar("T")
LOG_TAIL_CHARS = 8000  # what an error shows of a log: its end, where the reason is


class EndpointStartError(EndpointUnavailable):
    """An endpoint did not become ready; the message ends with the end of its log."""

    def __init__(self, message: str, log: str = "") -> None:
        tail = log[-LOG_TAIL_CHARS:]
        super().__init__(f"{message}\n--- endpoint log (last {len(tail)} characters) ---\n"
                         f"{tail}" if log else message)
        self.log = log


def wait_until(probe: Callable[[], T | None], *, timeout: float, interval: float = 0.2,
               dead: Callable[[], bool] = lambda: False) -> T | None:
    """The probe's first answer that is not None; None when `timeout` seconds pass or when
    `dead()` says waiting longer is pointless (the process exited)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None:
            return answer
        if dead() or time.monotonic() >= deadline:
            return None
        time.sleep(interval)

