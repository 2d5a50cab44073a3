"""Interruption plans: an ordered list of triggers, each firing one spot interruption.

One trigger per string (CLI `--interrupt`, repeatable; `--interrupt-plan FILE`; the Python API;
the `smemu:interrupt` tag, which separates triggers by spaces): a kind with its value, then
options after '/', e.g. `checkpoint=2/hard`. The kinds are in `kinds.py`, the options in
`trigger.py`. Triggers are used in order: the first interruption trigger is armed for attempt 1,
the next one for the attempt after it fired, and so on; `wait` triggers delay the attempt they
precede.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emulator.errors import PlanError
from emulator.faults.catalog import syntax
from emulator.faults.kinds import KINDS
from emulator.faults.trigger import (
    OPTIONS,
    Trigger,
    format_duration,
    option_changes,
    parse_duration,
)

__all__ = ["InterruptionPlan", "Trigger", "format_duration", "load_plan_file", "parse_duration",
           "parse_plan", "parse_trigger"]

# What fits SageMaker's Tag value pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]* (ASCII subset).
_TAG_SAFE = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]*$")
TAG_VALUE_MAX = 256
_B64 = "b64:"


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


def parse_trigger(text: str) -> Trigger:
    text = text.strip()
    parts = text.split("/")
    changes: dict[str, Any] = {}
    # Options are taken from the end while they parse: a '/' before them stays in the value.
    while len(parts) > 1 and (option := option_changes(parts[-1])) is not None:
        parts.pop()
        changes = option | changes  # written left to right: the last one wins
    kind_name, sep, value = "/".join(parts).partition("=")
    kind = KINDS.get(kind_name.strip().lower())
    if kind is None or kind.takes_value() != bool(sep):
        raise PlanError(f"invalid interruption trigger {text!r}: expected {syntax()}")
    return replace(kind.parse_value(value, text), **changes)


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
            for option in OPTIONS:
                given = item.get(option.name)
                if option.value is not None and given is not None:
                    spec += f"/{option.name}={given}"
                elif option.value is None and given:
                    spec += f"/{option.name}"
            specs.append(spec)
        else:
            raise PlanError(f"{path}: each trigger is a string or a mapping with 'trigger'")
    return parse_plan(specs)
