"""The trigger kinds, one class each: its syntax, what it does, how its value parses, and the
observation that fires it. `@register(...)` adds a kind to KINDS, from which the parser, the error
messages, the CLI help and the README table (tests/unit/test_trigger_catalog.py) are made.

A new kind is one class here (and its test); nothing else needs to know about it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from emulator.errors import PlanError
from emulator.faults.trigger import Elapsed, Trigger, TriggerT, format_duration, parse_duration

KINDS: dict[str, type[Trigger]] = {}  # in the order they are documented


def register(syntax: str, fires: str, example: str) -> Callable[[type[TriggerT]], type[TriggerT]]:
    """Names a kind by its syntax (`after=DURATION`: kind `after`, which takes a value), says
    what it does and gives an example that parses (all three for the README and the help)."""

    def add(kind: type[TriggerT]) -> type[TriggerT]:
        kind.kind, kind.syntax, kind.fires, kind.example = \
            syntax.partition("=")[0], syntax, fires, example
        KINDS[kind.kind] = kind
        return kind

    return add


DurationT = TypeVar("DurationT", bound="_DurationTrigger")
CountT = TypeVar("CountT", bound="_CountTrigger")


@dataclass(frozen=True, kw_only=True)
class _DurationTrigger(Trigger):
    seconds: float = 0.0

    @classmethod
    def parse_value(cls: type[DurationT], value: str, text: str) -> DurationT:
        return cls(seconds=parse_duration(value))

    def value_text(self) -> str:
        return format_duration(self.seconds)


@dataclass(frozen=True, kw_only=True)
class _CountTrigger(Trigger):
    count: int = 0

    @classmethod
    def parse_value(cls: type[CountT], value: str, text: str) -> CountT:
        if not value.strip().isdigit() or int(value) < 1:
            raise PlanError(f"invalid interruption trigger {text!r}: {cls.syntax} needs N >= 1")
        return cls(count=int(value))

    def value_text(self) -> str:
        return str(self.count)


@register("after=DURATION", "after DURATION of training in the attempt", "after=30s")
class After(_DurationTrigger):
    def fires_on_time(self, elapsed: Elapsed) -> bool:
        return elapsed.training_seconds >= self.seconds


@register("at=DURATION", example="at=2m",
          fires="at DURATION of job wall time (since CreateTrainingJob)")
class At(_DurationTrigger):
    def fires_on_time(self, elapsed: Elapsed) -> bool:
        return elapsed.job_seconds >= self.seconds


@register("checkpoint=N", example="checkpoint=3",
          fires="right after the attempt's Nth checkpoint upload (temp files renamed into place "
                "are never uploaded, so they do not count)")
class Checkpoint(_CountTrigger):
    def fires_on_upload(self, uploads: int) -> bool:
        return uploads >= self.count


@register("checkpoint-write=N", example="checkpoint-write=2",
          fires="while the attempt's Nth checkpoint file is still being written (torn checkpoints)")
class CheckpointWrite(_CountTrigger):
    def fires_on_write_started(self, writes: int) -> bool:
        return writes >= self.count


@register("log=REGEX", example="log=step 30/60",
          fires="when a container log line matches REGEX (a Python regex, searched in the line)")
@dataclass(frozen=True, kw_only=True)
class Log(Trigger):
    pattern: str = ""
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.pattern))

    @classmethod
    def parse_value(cls, value: str, text: str) -> Log:
        try:
            re.compile(value)
        except re.error as err:
            raise PlanError(f"invalid interruption trigger {text!r}: bad regex: {err}") from err
        return cls(pattern=value)

    def value_text(self) -> str:
        return self.pattern

    def fires_on_log(self, line: str) -> bool:
        return self._regex.search(line) is not None


@register("random=MEAN[:SEED]", example="random=60s:7",
          fires="after an exponentially distributed training time of mean MEAN; the same SEED "
                "gives the same time")
@dataclass(frozen=True, kw_only=True)
class Random(Trigger):
    seconds: float = 0.0  # the mean
    seed: int | None = None

    @classmethod
    def parse_value(cls, value: str, text: str) -> Random:
        mean, _, seed = value.partition(":")
        if seed and not seed.strip().lstrip("-").isdigit():
            raise PlanError(f"invalid interruption trigger {text!r}: SEED must be an integer")
        return cls(seconds=parse_duration(mean), seed=int(seed) if seed else None)

    def value_text(self) -> str:
        return format_duration(self.seconds) + (f":{self.seed}" if self.seed is not None else "")

    def random_delay(self, index: int) -> float:
        """The training time after which it fires (same seed and step, same delay)."""
        rng = random.Random(f"{self.seed}:{index}") if self.seed is not None else random.Random()
        return rng.expovariate(1.0 / self.seconds) if self.seconds > 0 else 0.0

    def fires_on_time(self, elapsed: Elapsed) -> bool:
        return elapsed.training_seconds >= elapsed.random_delay


@register("host-failure=DURATION", example="host-failure=30s",
          fires="not a spot interruption: after DURATION of training in the attempt the host is "
                "lost (SIGKILL at once), an internal failure that SageMaker retries up to "
                "`RetryStrategy.MaximumRetryAttempts` times (back to Starting) and otherwise "
                "fails the job (`InternalServerError`); on-demand jobs too")
class HostFailure(_DurationTrigger):
    host_failure = True

    def fires_on_time(self, elapsed: Elapsed) -> bool:
        return elapsed.training_seconds >= self.seconds

    def grace_period(self, default: float) -> float:
        return 0.0  # a lost host sends no SIGTERM


@register("start", "during start-up (after the restore), before the container runs", "start")
class Start(Trigger):
    fires_at_start = True

    @classmethod
    def parse_value(cls, value: str, text: str) -> Start:
        return cls()


@register("wait=DURATION", example="wait=1m",
          fires="not an interruption: the next attempt waits that long for spot capacity "
                '(Starting, "Insufficient capacity ...")')
class Wait(_DurationTrigger):
    """Fires nothing: the plan's cursor hands it to the attempt it precedes."""
