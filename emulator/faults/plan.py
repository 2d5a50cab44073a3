"""Interruption plans: an ordered list of triggers, each firing one spot interruption.

One trigger per string (CLI `--interrupt`, repeatable; `--interrupt-plan FILE`; the Python API;
the `smemu:interrupt` tag, which separates triggers by spaces):

    after=30s           after 30 s of training in the attempt
    at=2m               at 2 min of job wall time (since CreateTrainingJob)
    checkpoint=3        right after the attempt's 3rd checkpoint upload
    checkpoint-write=2  while the attempt's 2nd checkpoint file is being written (torn files)
    log=REGEX           when a container log line matches
    random=MEAN[:SEED]  after an exponentially distributed training time (reproducible with SEED)
    start               during start-up, before the container runs
    wait=DURATION       not an interruption: the next attempt waits this long for spot capacity

Options follow after '/': `/grace=10s` (SIGTERM->SIGKILL window for this one), `/hard` (SIGKILL
at once, like a lost host), `/capacity=30s` (wait for spot capacity before the next attempt).
Triggers are used in order: the first interruption trigger is armed for attempt 1, the next one
for the attempt after it fired, and so on; `wait` triggers delay the attempt they precede.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emulator.errors import PlanError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
TIME_KINDS = ("after", "at", "random")
KINDS = ("after", "at", "checkpoint", "checkpoint-write", "log", "random", "start", "wait")
SYNTAX = ("after=DURATION, at=DURATION, checkpoint=N, checkpoint-write=N, log=REGEX, "
          "random=MEAN[:SEED], start, wait=DURATION; options /grace=DURATION, /hard, "
          "/capacity=DURATION")
# What fits SageMaker's Tag value pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]* (ASCII subset).
_TAG_SAFE = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]*$")
TAG_VALUE_MAX = 256
_B64 = "b64:"


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
    seconds: float = 0.0  # after / at / random (mean) / wait
    count: int = 0  # checkpoint / checkpoint-write
    pattern: str = ""  # log
    seed: int | None = None  # random
    grace: float | None = None  # None: the job's grace period
    hard: bool = False
    capacity: float = 0.0

    @property
    def interrupts(self) -> bool:
        return self.kind != "wait"

    @property
    def spec(self) -> str:
        value = {
            "after": format_duration(self.seconds), "at": format_duration(self.seconds),
            "wait": format_duration(self.seconds), "checkpoint": str(self.count),
            "checkpoint-write": str(self.count), "log": self.pattern,
            "random": format_duration(self.seconds)
            + (f":{self.seed}" if self.seed is not None else ""),
        }.get(self.kind)
        text = self.kind if value is None else f"{self.kind}={value}"
        if self.grace is not None:
            text += f"/grace={format_duration(self.grace)}"
        if self.hard:
            text += "/hard"
        if self.capacity:
            text += f"/capacity={format_duration(self.capacity)}"
        return text

    def grace_period(self, default: float) -> float:
        if self.hard:
            return 0.0
        return default if self.grace is None else self.grace

    def random_delay(self, index: int) -> float:
        """The training time after which a `random` trigger fires (same seed, same delay)."""
        rng = random.Random(f"{self.seed}:{index}") if self.seed is not None else random.Random()
        return rng.expovariate(1.0 / self.seconds) if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class InterruptionPlan:
    triggers: tuple[Trigger, ...] = ()

    @property
    def spec(self) -> str:
        return " ".join(t.spec for t in self.triggers)

    def to_tag_value(self) -> str:
        """The plan as a Tag value: plain when it fits SageMaker's pattern, else base64."""
        plain = self.spec
        if _TAG_SAFE.match(plain) and all(" " not in t.spec for t in self.triggers) \
                and len(plain) <= TAG_VALUE_MAX:
            return plain
        encoded = _B64 + base64.b64encode(
            json.dumps([t.spec for t in self.triggers]).encode()).decode()
        if len(encoded) > TAG_VALUE_MAX:
            raise PlanError("the interruption plan is too long for a request tag (256 characters)")
        return encoded


def _parse_option(trigger: Trigger, option: str) -> Trigger | None:
    key, sep, value = option.partition("=")
    try:
        if option == "hard":
            return replace(trigger, hard=True)
        if sep and key == "grace":
            return replace(trigger, grace=parse_duration(value))
        if sep and key == "capacity":
            return replace(trigger, capacity=parse_duration(value))
    except PlanError:
        return None
    return None


def parse_trigger(text: str) -> Trigger:
    text = text.strip()
    parts = text.split("/")
    options: list[str] = []
    while len(parts) > 1 and _parse_option(Trigger("x"), parts[-1]) is not None:
        options.insert(0, parts.pop())
    head = "/".join(parts)
    kind, sep, value = head.partition("=")
    kind = kind.strip().lower()
    if kind not in KINDS or (kind == "start") == bool(sep):
        raise PlanError(f"invalid interruption trigger {text!r}: expected {SYNTAX}")
    trigger = Trigger(kind)
    if kind in ("after", "at", "wait"):
        trigger = replace(trigger, seconds=parse_duration(value))
    elif kind in ("checkpoint", "checkpoint-write"):
        if not value.strip().isdigit() or int(value) < 1:
            raise PlanError(f"invalid interruption trigger {text!r}: {kind}=N needs N >= 1")
        trigger = replace(trigger, count=int(value))
    elif kind == "log":
        try:
            re.compile(value)
        except re.error as err:
            raise PlanError(f"invalid interruption trigger {text!r}: bad regex: {err}") from err
        trigger = replace(trigger, pattern=value)
    elif kind == "random":
        mean, _, seed = value.partition(":")
        if seed and not seed.strip().lstrip("-").isdigit():
            raise PlanError(f"invalid interruption trigger {text!r}: SEED must be an integer")
        trigger = replace(trigger, seconds=parse_duration(mean),
                          seed=int(seed) if seed else None)
    for option in options:
        parsed = _parse_option(trigger, option)
        assert parsed is not None
        trigger = parsed
    return trigger


def parse_plan(specs: str | Iterable[str]) -> InterruptionPlan:
    """A tag value (space-separated or base64) or a list of trigger strings (one each)."""
    if isinstance(specs, str):
        if specs.startswith(_B64):
            try:
                items = json.loads(base64.b64decode(specs[len(_B64):]))
            except ValueError as err:
                raise PlanError("invalid base64 interruption plan") from err
            if not isinstance(items, list):
                raise PlanError("invalid base64 interruption plan")
            return parse_plan([str(i) for i in items])
        return InterruptionPlan(tuple(parse_trigger(p) for p in specs.split() if p))
    return InterruptionPlan(tuple(parse_trigger(p) for p in specs if p.strip()))


def _one_line(err: Exception) -> str:
    """PyYAML's message spans lines (problem, context, a caret under the text): keep the problem
    and where it is."""
    problem, mark = getattr(err, "problem", None), getattr(err, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(err).split())


def load_plan_file(path: str | os.PathLike[str]) -> InterruptionPlan:
    """A YAML or JSON file: a list of triggers, or {"interrupt": [...]}; a trigger is a string
    or a mapping {"trigger": "after=30s", "grace": "10s", "hard": true, "capacity": "1m"}."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise PlanError(f"cannot read {path}: {err.strerror}") from err
    try:
        import yaml  # PyYAML comes with moto[server]

        data: Any = yaml.safe_load(text)
    except Exception as err:
        raise PlanError(f"{path} is neither YAML nor JSON: {_one_line(err)}") from err
    if isinstance(data, dict):
        data = data.get("interrupt", data.get("triggers"))
    if not isinstance(data, list):
        raise PlanError(f"{path} must hold a list of triggers (or {{interrupt: [...]}})")
    specs = []
    for item in data:
        if isinstance(item, str):
            specs.append(item)
        elif isinstance(item, dict) and "trigger" in item:
            spec = str(item["trigger"])
            if item.get("grace") is not None:
                spec += f"/grace={item['grace']}"
            if item.get("hard"):
                spec += "/hard"
            if item.get("capacity") is not None:
                spec += f"/capacity={item['capacity']}"
            specs.append(spec)
        else:
            raise PlanError(f"{path}: each trigger is a string or a mapping with 'trigger'")
    return parse_plan(specs)
