"""A job's history as a JSON-safe dict, and back: what a persistent store keeps of a job.

`dump_job(job)` gives plain dicts, lists, strings, numbers, booleans and None (enums as their
wire values, the spec as the request it was parsed from plus the emulator settings, a plan as
its trigger strings, S3 faults as their SPEC), tagged
with `schema_version`; `load_job(dump_job(job)) == job`. Every field of the history's
dataclasses is written under its own name, read back by its type hint: a new field is stored
without more code here, and a change to an existing one bumps SCHEMA_VERSION.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from emulator.errors import EmulatorError, PlanError
from emulator.faults.plan import InterruptionPlan, parse_plan
from emulator.faults.s3_spec import S3FaultSpec, parse_s3_faults
from emulator.jobs.model import TrainingJob
from emulator.jobs.settings import JobSettings
from emulator.jobs.spec import JobSpec, parse_spec

SCHEMA_VERSION = 1
VERSION_KEY = "schema_version"
T = TypeVar("T")


class HistoryFormatError(EmulatorError):
    """A stored history this version of smemu cannot read."""


def dump_job(job: TrainingJob) -> dict[str, Any]:
    return {VERSION_KEY: SCHEMA_VERSION, **_encode(job)}


def load_job(data: Mapping[str, Any]) -> TrainingJob:
    version = data.get(VERSION_KEY)
    if version != SCHEMA_VERSION:
        raise HistoryFormatError(
            f"job history schema version {version!r} is not {SCHEMA_VERSION}, the one this "
            "smemu reads")
    fields = {k: v for k, v in data.items() if k != VERSION_KEY}
    try:
        return _decode_dataclass(TrainingJob, fields)
    except (KeyError, TypeError, ValueError, PlanError) as err:
        raise HistoryFormatError(f"job history unreadable: {type(err).__name__}: {err}") from err


def _encode(value: Any) -> Any:
    if isinstance(value, JobSpec):
        # The request is the source of truth; the settings came from its tags and the
        # endpoint's defaults at creation, which may have changed since.
        return {"request": _encode(value.request), "settings": _encode(value.settings)}
    if isinstance(value, InterruptionPlan):
        return [trigger.spec for trigger in value.triggers]  # each parses back to itself
    if isinstance(value, S3FaultSpec):
        return value.spec  # parses back to itself
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode_dataclass(cls: type[T], data: Mapping[str, Any]) -> T:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _decode(hints[f.name], data[f.name])
                  for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                  if f.init and f.name in data})


def _decode(hint: Any, value: Any) -> Any:
    if hint is JobSpec:
        return parse_spec(value["request"], _decode(JobSettings, value["settings"]))
    if hint is InterruptionPlan:
        return parse_plan([str(spec) for spec in value])
    if hint is S3FaultSpec:
        return parse_s3_faults(str(value))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _decode(hint, value)
    if origin is list:
        return [_decode(args[0], v) for v in value]
    if origin is tuple:
        return tuple(_decode(args[0], v) for v in value)
    if origin in (dict, Mapping):
        return {k: _decode(args[1], v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value)
    return value  # str, int, float, bool, Any: JSON's own
