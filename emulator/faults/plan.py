"""Interruption plans: a list of triggers, each firing one spot interruption.

Syntax (CLI `--interrupt`, the Python API, and the `smemu:interrupt` tag, whose value
separates triggers by spaces so it fits SageMaker's Tag pattern):
    after=30s    after 30 s of training in the current attempt
Triggers are used in order: the first interrupts attempt 1, the second attempt 2, ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from emulator.errors import PlanError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
KINDS = ("after",)


def parse_duration(text: str) -> float:
    """'30s', '2m', '1.5h', '500ms' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise PlanError(f"invalid duration {text!r}: use e.g. 30s, 2m, 1h or 500ms")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Trigger:
    kind: str
    seconds: float

    @property
    def spec(self) -> str:
        return f"{self.kind}={format_duration(self.seconds)}"


@dataclass(frozen=True)
class InterruptionPlan:
    triggers: tuple[Trigger, ...] = ()

    def for_attempt(self, number: int) -> Trigger | None:
        """The trigger that interrupts attempt `number` (1-based), if any."""
        index = number - 1
        return self.triggers[index] if 0 <= index < len(self.triggers) else None

    @property
    def spec(self) -> str:
        return " ".join(t.spec for t in self.triggers)


def parse_trigger(text: str) -> Trigger:
    kind, sep, value = text.strip().partition("=")
    kind = kind.strip().lower()
    if not sep or kind not in KINDS:
        raise PlanError(
            f"invalid interruption trigger {text!r}: expected one of "
            + ", ".join(f"{k}=DURATION" for k in KINDS)
        )
    seconds = parse_duration(value)
    if seconds < 0:
        raise PlanError(f"invalid interruption trigger {text!r}: duration must be >= 0")
    return Trigger(kind, seconds)


def parse_plan(specs: str | Iterable[str]) -> InterruptionPlan:
    """Parse triggers given as one space/comma separated string or as a list of strings."""
    items = [specs] if isinstance(specs, str) else list(specs)
    triggers = [parse_trigger(part) for item in items for part in re.split(r"[\s,]+", item) if part]
    return InterruptionPlan(tuple(triggers))
