"""What every trigger kind shares: the options after '/', the spec string, the observation hooks.

A kind is a subclass in `kinds.py`; it says how its value is written and parsed, what it does
(for the README and the CLI help), and which observation fires it, by overriding one hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from emulator.errors import PlanError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'30s', '2m', '1.5h', '500ms' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise PlanError(f"invalid duration {text!r}: use e.g. 30s, 2m, 1h or 500ms")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    return f"{seconds:g}s"


TriggerT = TypeVar("TriggerT", bound="Trigger")


@dataclass(frozen=True)
class Elapsed:
    """The clocks at one poll of a running attempt, for the kinds that fire on time."""

    training_seconds: float  # of this attempt
    job_seconds: float  # since CreateTrainingJob
    random_delay: float  # what the armed trigger drew when it was armed (`random`)


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """One step of an interruption plan: a kind (the subclass) with its value, plus the options
    every kind takes. Frozen and compared by value: a plan that goes through a tag comes back
    equal."""

    kind: ClassVar[str]  # the name before '='
    syntax: ClassVar[str]  # how it is written: "after=DURATION"; no '=' when it takes no value
    fires: ClassVar[str]  # what it does (Markdown, for the README table)
    example: ClassVar[str]  # a trigger string that parses (README table)
    fires_at_start: ClassVar[bool] = False  # fired during start-up, before the container runs
    # A lost host (an internal failure, retried by RetryStrategy), not a spot interruption:
    # the only kind that also applies to on-demand jobs.
    host_failure: ClassVar[bool] = False

    grace: float | None = None  # None: the job's grace period
    hard: bool = False
    capacity: float = 0.0
    host: str | None = None  # the host whose instance is reclaimed first (None: all at once)
    peers: float | None = None  # with `host`: how long the others run on before the stop

    @classmethod
    def takes_value(cls) -> bool:
        return "=" in cls.syntax

    @classmethod
    def parse_value(cls: type[TriggerT], value: str, text: str) -> TriggerT:
        """The trigger from the text after '=' (`text`, the whole trigger, is for errors)."""
        raise NotImplementedError(f"{cls.__name__} does not parse a value")

    def value_text(self) -> str | None:
        """The value written after '=', or None for a kind without one."""
        return None

    @property
    def spec(self) -> str:
        value = self.value_text()
        text = self.kind if value is None else f"{self.kind}={value}"
        for option in OPTIONS:
            written = option.render(self)
            if written is not None:
                text += f"/{option.name}" + (f"={written}" if option.value else "")
        return text

    def grace_period(self, default: float) -> float:
        if self.hard:
            return 0.0
        return default if self.grace is None else self.grace

    # -- observations: a kind overrides the one that fires it -----------------------------
    def random_delay(self, index: int) -> float:
        """A training time drawn once when the trigger is armed for plan step `index` (only
        `random` draws one); `fires_on_time` gets it back in `Elapsed`."""
        return 0.0

    def fires_on_time(self, elapsed: Elapsed) -> bool:
        return False

    def fires_on_upload(self, uploads: int) -> bool:
        """After the attempt's `uploads`-th checkpoint upload."""
        return False

    def fires_on_write_started(self, writes: int) -> bool:
        """When the attempt's `writes`-th checkpoint file starts being written."""
        return False

    def fires_on_log(self, line: str) -> bool:
        return False


@dataclass(frozen=True)
class TriggerOption:
    """An option after '/', the same for every kind."""

    name: str
    value: str | None  # the placeholder of its value ("DURATION"), None for a flag
    effect: str  # Markdown, for the README
    example: str  # a trigger string with it
    changes: Callable[[str], dict[str, Any]]  # its value -> the Trigger fields it sets
    render: Callable[[Trigger], str | None]  # the value written back, "" for a set flag, or None

    @property
    def syntax(self) -> str:
        return f"/{self.name}" + (f"={self.value}" if self.value else "")


OPTIONS = (
    TriggerOption("grace", "DURATION",
                  "this trigger's SIGTERM→SIGKILL window (default: the job's grace period)",
                  "after=30s/grace=10s",
                  lambda value: {"grace": parse_duration(value)},
                  lambda t: None if t.grace is None else format_duration(t.grace)),
    TriggerOption("hard", None, "SIGKILL at once, like a lost host", "checkpoint=2/hard",
                  lambda value: {"hard": True}, lambda t: "" if t.hard else None),
    TriggerOption("host", "HOST",
                  "only HOST's spot instance is reclaimed (SIGTERM and the grace, or `/hard`); "
                  "then SageMaker stops the job: the other hosts get SIGTERM, the job's grace "
                  "period and SIGKILL, and the next attempt restarts all hosts",
                  "after=30s/host=algo-2", lambda value: {"host": _host_name(value)},
                  lambda t: t.host),
    TriggerOption("peers", "DURATION",
                  "with `/host`: how long the other hosts run on once the reclaimed one is gone, "
                  "before the job stops them (default 5s)", "after=30s/host=algo-2/peers=10s",
                  lambda value: {"peers": parse_duration(value)},
                  lambda t: None if t.peers is None else format_duration(t.peers)),
    TriggerOption("capacity", "DURATION",
                  "no spot capacity for DURATION before the next attempt: the job stays "
                  "Interrupted, and that time counts against MaxWaitTimeInSeconds",
                  "start/capacity=1m", lambda value: {"capacity": parse_duration(value)},
                  lambda t: format_duration(t.capacity) if t.capacity else None),
)


_HOST = re.compile(r"^algo-[1-9][0-9]*$")


def _host_name(value: str) -> str:
    if not _HOST.match(value):
        raise PlanError(f"invalid host {value!r}: hosts are named algo-1, algo-2, ...")
    return value


def option_changes(text: str) -> dict[str, Any] | None:
    """The fields one option after '/' sets, or None when `text` is no valid option (then it is
    part of the trigger's value, like the '/' in `log=a/b`)."""
    name, sep, value = text.partition("=")
    for option in OPTIONS:
        if name == option.name and bool(sep) == (option.value is not None):
            try:
                return option.changes(value)
            except PlanError:
                return None
    return None
