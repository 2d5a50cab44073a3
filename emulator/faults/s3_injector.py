"""Decides, request by request, what an S3 fault spec does to one request; counts what it did.

Pure and thread-safe: it never sleeps nor raises. The caller (the mirror's blob store wrapper,
the endpoint's S3 front for the container scope) adds the decision's delay and answers with its
error. Errors are drawn from one RNG seeded by the spec, so one request sequence gets the same
faults every run; during an outage (of training time, from `training_seconds`) every request
fails, and no draw is spent, so the errors after an outage do not depend on its length.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.faults.s3_spec import S3FaultSpec


@dataclass(frozen=True)
class S3Fault:
    """An error S3 answers with: its code, HTTP status and message (S3's own words)."""

    code: str
    status: int
    message: str
    outage: bool = False  # refused because S3 is down, not drawn at the error rate


SLOW_DOWN = S3Fault("SlowDown", 503, "Please reduce your request rate.")
INTERNAL_ERROR = S3Fault("InternalError", 500,
                         "We encountered an internal error. Please try again.")
# S3 answers 503 ServiceUnavailable when it cannot serve at all.
OUTAGE = S3Fault("ServiceUnavailable", 503,
                 "Service is unable to handle request. (injected S3 outage)", outage=True)
DRAWN = (SLOW_DOWN, INTERNAL_ERROR)


@dataclass(frozen=True)
class S3Decision:
    """What to do to one request: wait `delay` seconds, then answer `error` (None: serve it)."""

    delay: float = 0.0
    error: S3Fault | None = None


@dataclass(frozen=True)
class S3FaultCounts:
    """A snapshot of what the injector did, for reports."""

    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # by S3 error code, drawn errors only
    outage_refusals: int = 0
    delay_seconds: float = 0.0  # latency and bandwidth delay added, over all requests
    retries: int = 0  # retries the caller made after an injected or real failure
    backoff_seconds: float = 0.0  # what those retries waited

    @property
    def faults(self) -> int:
        return sum(self.errors.values()) + self.outage_refusals

    def to_dict(self) -> dict[str, object]:
        return {"requests": self.requests, "errors": dict(self.errors),
                "outage_refusals": self.outage_refusals,
                "delay_seconds": round(self.delay_seconds, 3), "retries": self.retries,
                "backoff_seconds": round(self.backoff_seconds, 3)}

    @classmethod
    def of_report(cls, report: Mapping[str, Any]) -> S3FaultCounts | None:
        """The counts in an emulator report (`S3Faults`), None for a job without S3 faults."""
        data = report.get("S3Faults")
        return cls.from_dict(dict(data)) if isinstance(data, Mapping) else None

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> S3FaultCounts:
        errors = data.get("errors")
        return cls(requests=_int(data.get("requests")),
                   errors={str(k): _int(v) for k, v in errors.items()}
                   if isinstance(errors, dict) else {},
                   outage_refusals=_int(data.get("outage_refusals")),
                   delay_seconds=_float(data.get("delay_seconds")),
                   retries=_int(data.get("retries")),
                   backoff_seconds=_float(data.get("backoff_seconds")))


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


class S3FaultInjector:
    """One job's faults (one scope): `decide` per request, `counts` for the report."""

    def __init__(self, spec: S3FaultSpec, training_seconds: Callable[[], float]) -> None:
        self.spec = spec
        self._training_seconds = training_seconds
        self._rng = random.Random(spec.seed)
        self._lock = threading.Lock()
        self._requests = 0
        self._errors: dict[str, int] = {}
        self._outage_refusals = 0
        self._delay = 0.0
        self._retries = 0
        self._backoff = 0.0

    def in_outage(self) -> bool:
        return self.spec.in_outage(self._training_seconds())

    def decide(self, nbytes: int = 0) -> S3Decision:
        """The decision for one request carrying (or fetching) `nbytes` of body. A refused or
        failed request gets the latency only: its body is not transferred."""
        spec = self.spec
        down = self.in_outage()
        with self._lock:
            self._requests += 1
            if down:
                self._outage_refusals += 1
                self._delay += spec.latency
                return S3Decision(spec.latency, OUTAGE)
            error = None
            if spec.error_rate and self._rng.random() < spec.error_rate:
                error = DRAWN[self._rng.randrange(len(DRAWN))]
                self._errors[error.code] = self._errors.get(error.code, 0) + 1
            delay = spec.latency
            if error is None and spec.bandwidth and nbytes > 0:
                delay += nbytes / spec.bandwidth
            self._delay += delay
            return S3Decision(delay, error)

    def body_delay(self, nbytes: int) -> float:
        """The delay of a response body of `nbytes` at the bandwidth (a download: its size is
        known once the answer comes), counted with the rest."""
        if not self.spec.bandwidth or nbytes <= 0:
            return 0.0
        delay = nbytes / self.spec.bandwidth
        with self._lock:
            self._delay += delay
        return delay

    def note_retry(self, waited: float) -> None:
        """The caller retried a failed request after waiting `waited` seconds."""
        with self._lock:
            self._retries += 1
            self._backoff += waited

    def counts(self) -> S3FaultCounts:
        with self._lock:
            return S3FaultCounts(self._requests, dict(self._errors), self._outage_refusals,
                                 self._delay, self._retries, self._backoff)
