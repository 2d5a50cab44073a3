"""S3 fault specs: how smemu makes S3 misbehave for one job (`--s3-faults`, `smemu:s3-faults`).

A SPEC holds space-separated items, each at most once except `outage`:
`errors=20% seed=7 latency=200ms outage=30s+10s bandwidth=20MiB/s scope=all`.
`errors` is the share of requests answered 503 SlowDown or 500 InternalError (a seeded draw),
`latency` is added to every request, `outage=START+DURATION` fails every request in that window
of training time, `bandwidth` caps the rate of bodies, and `scope` says whose traffic it hits:
`mirror` (smemu's own checkpoint and artifact transfers, the default), `container` (the
training container's S3 calls through the endpoint) or `all`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from emulator.errors import PlanError, S3FaultSpecError
from emulator.faults.trigger import format_duration, parse_duration

Scope = Literal["mirror", "container", "all"]
SCOPES: tuple[Scope, ...] = ("mirror", "container", "all")
GRAMMAR = ("errors=PERCENT seed=N latency=DURATION outage=START+DURATION "
           "bandwidth=SIZE/s scope=mirror|container|all")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4,
               "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4}
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
_FRACTION = re.compile(r"^(?:0|1)(?:\.\d+)?$|^\.\d+$")


def parse_size(text: str) -> int:
    """'20MiB', '1.5GB', '512KiB', '300B' or a bare number of bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"invalid size {text!r}: use e.g. 512KiB, 20MiB, 1GB or a byte count")
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "B").lower()])


def format_size(n: float) -> str:
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor:g}{unit}"
    return f"{n:g}B"


@dataclass(frozen=True)
class S3FaultSpec:
    """One job's S3 faults. Frozen and compared by value: a spec sent as a tag comes back
    equal (`parse_s3_faults(spec.spec) == spec`)."""

    error_rate: float = 0.0  # 0..1: the share of requests answered with an error
    seed: int = 0
    latency: float = 0.0  # seconds added to every request
    outages: tuple[tuple[float, float], ...] = ()  # (start_s, duration_s) of training time
    bandwidth: float | None = None  # bytes/s of request and response bodies; None: no cap
    scope: Scope = "mirror"

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise S3FaultSpecError(f"errors must be between 0% and 100%, not {self.error_rate:g}")
        if self.latency < 0:
            raise S3FaultSpecError("latency must not be negative")
        if self.bandwidth is not None and self.bandwidth <= 0:
            raise S3FaultSpecError("bandwidth must be above 0")
        if any(start < 0 or duration <= 0 for start, duration in self.outages):
            raise S3FaultSpecError("an outage starts at 0s or later and lasts more than 0s")
        if self.scope not in SCOPES:
            raise S3FaultSpecError(f"scope must be one of {', '.join(SCOPES)}, "
                                   f"not {self.scope!r}")

    def covers(self, traffic: Literal["mirror", "container"]) -> bool:
        """True when the faults apply to that traffic."""
        return self.scope in (traffic, "all")

    @property
    def injects(self) -> bool:
        """False for a spec that changes nothing (e.g. `scope=all` alone)."""
        return bool(self.error_rate or self.latency or self.outages or self.bandwidth)

    def in_outage(self, training_seconds: float) -> bool:
        return any(start <= training_seconds < start + duration
                   for start, duration in self.outages)

    @property
    def outage_end(self) -> float:
        """The training time the last outage ends (0 without outages)."""
        return max((start + duration for start, duration in self.outages), default=0.0)

    @property
    def spec(self) -> str:
        """The SPEC text that parses back to this spec."""
        return self._render(percent=True)

    @property
    def tag_value(self) -> str:
        """The spec as a Tag value: SageMaker's Tag pattern has no '%', so errors=0.2."""
        return self._render(percent=False)

    def _render(self, *, percent: bool) -> str:
        items = []
        if self.error_rate:
            items.append(f"errors={self.error_rate * 100:g}%" if percent
                         else f"errors={self.error_rate:g}")
        if self.seed:
            items.append(f"seed={self.seed}")
        if self.latency:
            items.append(f"latency={format_duration(self.latency)}")
        items += [f"outage={format_duration(s)}+{format_duration(d)}" for s, d in self.outages]
        if self.bandwidth is not None:
            items.append(f"bandwidth={format_size(self.bandwidth)}/s")
        if self.scope != "mirror":
            items.append(f"scope={self.scope}")
        return " ".join(items)


def parse_s3_faults(text: str) -> S3FaultSpec:
    """The spec from SPEC text; S3FaultSpecError (a ValueError) names the item it cannot use."""
    fields: dict[str, object] = {}
    outages: list[tuple[float, float]] = []
    for item in text.split():
        key, sep, value = item.partition("=")
        key = key.lower()
        if not sep or not value:
            raise S3FaultSpecError(f"invalid S3 fault {item!r}: expected KEY=VALUE, one of "
                                   f"{GRAMMAR}")
        if key != "outage" and _PARSERS.get(key, ("",))[0] in fields:
            raise S3FaultSpecError(f"invalid S3 fault {item!r}: {key} is given twice")
        if key != "outage" and key not in _PARSERS:
            raise S3FaultSpecError(f"invalid S3 fault {item!r}: unknown item {key!r}, "
                                   f"expected {GRAMMAR}")
        try:
            if key == "outage":
                outages.append(_outage(value))
            else:
                field, parse = _PARSERS[key]
                fields[field] = parse(value)
        except (ValueError, PlanError) as err:
            raise S3FaultSpecError(f"invalid S3 fault {item!r}: {err}") from None
    try:
        return S3FaultSpec(outages=tuple(outages), **fields)  # type: ignore[arg-type]
    except S3FaultSpecError as err:
        raise S3FaultSpecError(f"invalid S3 faults {text.strip()!r}: {err}") from None


def _rate(value: str) -> float:
    match = _PERCENT.match(value)
    if match:
        rate = float(match.group(1)) / 100
    elif _FRACTION.match(value):
        rate = float(value)
    else:
        raise ValueError("use a percentage such as 20% (or a fraction such as 0.2)")
    if rate > 1:
        raise ValueError("at most 100%")
    return rate


def _seed(value: str) -> int:
    if not value.isdigit():
        raise ValueError("the seed is a whole number such as 7")
    return int(value)


def _bandwidth(value: str) -> float:
    size = value[:-2] if value.lower().endswith("/s") else value
    rate = parse_size(size)
    if rate <= 0:
        raise ValueError("bandwidth must be above 0 bytes/s")
    return float(rate)


def _scope(value: str) -> Scope:
    if value not in SCOPES:
        raise ValueError(f"scope is one of {'|'.join(SCOPES)}")
    return cast(Scope, value)


def _outage(value: str) -> tuple[float, float]:
    start, sep, duration = value.partition("+")
    if not sep:
        raise ValueError("write START+DURATION of training time, e.g. 30s+10s")
    seconds = parse_duration(duration)
    if seconds <= 0:
        raise ValueError("an outage lasts more than 0s")
    return parse_duration(start), seconds


_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "errors": ("error_rate", _rate),
    "seed": ("seed", _seed),
    "latency": ("latency", parse_duration),
    "bandwidth": ("bandwidth", _bandwidth),
    "scope": ("scope", _scope),
}
