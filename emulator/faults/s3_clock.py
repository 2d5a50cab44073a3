"""The clock S3 outages are read on: training time, except that an outage, once begun, runs on
in real time.

An outage `START+DURATION` begins when the job's training time (summed over its attempts)
reaches START. S3 recovers in real time, whatever the job does meanwhile: while an outage is
on, this clock runs at wall speed even when no container trains (an interruption's flush, the
model upload, the next attempt's restore). Once past it, the clock follows training time again
and never goes back (it waits for training time to catch up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from emulator.faults.s3_spec import S3FaultSpec


class OutageClock:
    def __init__(self, spec: S3FaultSpec, training_seconds: Callable[[], float],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._spec = spec
        self._training_seconds = training_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value = 0.0
        self._read_at: float | None = None

    def __call__(self) -> float:
        training = self._training_seconds()
        now = self._monotonic()
        with self._lock:
            value = max(self._value, training)
            if self._read_at is not None and self._spec.in_outage(self._value):
                # Inside an outage: real time counts, but not past its end.
                end = next(start + duration for start, duration in self._spec.outages
                           if start <= self._value < start + duration)
                value = max(value, min(self._value + (now - self._read_at), end))
            self._value, self._read_at = value, now
            return value
