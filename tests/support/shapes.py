"""Hypothesis strategies for requests of any botocore operation, from its input shape: valid
ones (types, enums, lengths, ranges and, where Python can read it, the pattern) and mutated ones
(a member deleted, retyped, or replaced by a nasty value; an unknown member added)."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from hypothesis import strategies as st

MAX_DEPTH = 3
NASTY: list[Any] = [
    None, "", " ", "x" * 3000, "bad_name", "\u0000", "ü" * 70, "s3://", "s3://a b/c",
    "arn:aws:sagemaker:us-east-1:123456789012:training-job/fuzz", 0, -1, 2**31, 2**63,
    1.5, -0.0, 1e308, True, False, [], [None], [{}], {}, {"": ""}, [[[]]],
    {"a": {"b": {"c": []}}},
]
# JSON numbers that are not numbers, and integers past every limit (raw bodies only).
RAW_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "7" * 400, "0x10", "01", "1.", ".5"]


@functools.cache
def service_model(name: str = "sagemaker") -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def operation_names(name: str = "sagemaker") -> list[str]:
    return sorted(service_model(name).operation_names)


def input_shape(operation: str, name: str = "sagemaker") -> StructureShape | None:
    shape = service_model(name).operation_model(operation).input_shape
    return shape if isinstance(shape, StructureShape) else None


def valid_request(operation: str, name: str = "sagemaker") -> st.SearchStrategy[dict[str, Any]]:
    shape = input_shape(operation, name)
    return st.builds(dict) if shape is None else _value(shape, 0)  # type: ignore[return-value]


def mutated_request(operation: str,
                    name: str = "sagemaker") -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(valid_request(operation, name), st.data()).map(
        lambda pair: mutate(pair[0], pair[1]))


def request(operation: str, name: str = "sagemaker") -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(valid_request(operation, name), mutated_request(operation, name))


def minimal_request(operation: str, name: str = "sagemaker") -> dict[str, Any]:
    """The required members only, each the simplest value its type allows (no hypothesis)."""
    shape = input_shape(operation, name)
    return {} if shape is None else _minimal(shape, 0)


def mutate(value: Any, data: st.DataObject, rounds: int = 3) -> Any:
    """Up to `rounds` changes at random places in a copy of a JSON-like value."""
    value = copy.deepcopy(value)
    for _ in range(data.draw(st.integers(1, rounds), label="mutations")):
        paths = _paths(value)
        path = data.draw(st.sampled_from(paths), label="where")
        if not path:
            value = copy.deepcopy(data.draw(st.sampled_from(NASTY), label="whole"))
            continue
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        how = data.draw(st.sampled_from(["replace", "delete", "add", "wrap"]), label="how")
        if how == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12), label="key")] = copy.deepcopy(data.draw(
                st.sampled_from(NASTY), label="added"))
        elif how == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        else:
            parent[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(NASTY), label="nasty"))
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += _paths(sub, (*prefix, index))
    return out


def _value(shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    meta = shape.metadata
    if isinstance(shape, StructureShape):
        required = set(shape.required_members)
        if depth >= MAX_DEPTH:
            return st.fixed_dictionaries({k: st.just(_minimal(shape.members[k], depth + 1))
                                          for k in required})
        members = {k: st.deferred(lambda s=s: _value(s, depth + 1))  # type: ignore[misc]
                   for k, s in shape.members.items()}
        return st.fixed_dictionaries({k: v for k, v in members.items() if k in required},
                                     optional={k: v for k, v in members.items()
                                               if k not in required})
    if isinstance(shape, ListShape):
        low, high = _bounds(meta, 0, 3)
        return st.lists(_value(shape.member, depth + 1), min_size=low, max_size=max(low, high))
    if isinstance(shape, MapShape):
        low, high = _bounds(meta, 0, 3)
        return st.dictionaries(_value(shape.key, depth + 1), _value(shape.value, depth + 1),
                               min_size=low, max_size=max(low, high))
    if kind == "string":
        return _string(shape, with_pattern=depth <= 1)
    if kind in ("integer", "long"):
        low, high = _bounds(meta, -(2**31), 2**31 - 1, clip=False)
        return st.integers(low, high)
    if kind in ("float", "double"):
        low, high = _bounds(meta, -1e9, 1e9, clip=False)
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.integers(0, 2**31)
    return st.binary(max_size=16).map(lambda b: b.hex())


def _string(shape: Shape, with_pattern: bool) -> st.SearchStrategy[str]:
    """Deeper strings skip the pattern: from_regex is most of the generation time."""
    if shape.enum:
        return st.sampled_from(shape.enum)
    low, high = _bounds(shape.metadata, 0, 40)
    pattern = _python_pattern(shape.metadata.get("pattern")) if with_pattern else None
    text = st.text(min_size=low, max_size=max(low, high))
    if pattern is None:
        return text
    matching = st.from_regex(pattern, fullmatch=True).filter(lambda s: low <= len(s) <= 2048)
    return st.one_of(matching, text)


@functools.cache
def _python_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """The pattern when Python's re reads it as Java does (no \\p{...} classes)."""
    if not pattern or "\\p{" in pattern or "\\P{" in pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _bounds(meta: dict[str, Any], low: float, high: float,
            clip: bool = True) -> tuple[Any, Any]:
    """The shape's min/max, clipped to [low, high] for sizes (to keep examples small)."""
    lo, hi = meta.get("min", low), meta.get("max", high)
    if clip:
        lo, hi = int(min(lo, high)), int(min(hi, high))
    return lo, hi


def _minimal(shape: Shape, depth: int) -> Any:
    if isinstance(shape, StructureShape):
        return {} if depth > MAX_DEPTH else {
            k: _minimal(shape.members[k], depth + 1) for k in shape.required_members}
    if isinstance(shape, ListShape):
        return [_minimal(shape.member, depth + 1)] * int(shape.metadata.get("min", 0))
    if isinstance(shape, MapShape):
        return {}
    if shape.type_name == "string":
        return shape.enum[0] if shape.enum else "a" * int(shape.metadata.get("min", 1))
    if shape.type_name in ("integer", "long", "float", "double", "timestamp"):
        return shape.metadata.get("min", 1)
    return True if shape.type_name == "boolean" else "00"
