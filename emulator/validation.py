"""Validate a SageMaker request against botocore's service model, answering as the service does.

``N validation error(s) detected: Value 'a_b' at 'trainingJobName' failed to satisfy constraint:
Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; ...``. Paths:
member names with a lower-case first letter, list elements ``name.N.member``. Lists of scalars,
map keys and map values are reported once, at the collection, with all the element's constraints
(``Member must satisfy constraint: [...]``, ``Map keys ...``, ``Map value ...``). Values print as
Java's toString. Unknown members are ignored. A value of the wrong JSON type fails first, alone,
with Coral's text (``STRING_VALUE can not be converted to an Integer``): SerializationException.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import sys
import unicodedata
import warnings
from decimal import Decimal
from typing import Any

from emulator.errors import SerializationException, UnknownOperationException, ValidationException


class _Unreadable(Exception):
    """The body does not deserialize; args[0] is the service's text for it."""


_JAVA_TYPE = {"string": "a String", "integer": "an Integer", "long": "a Long", "float": "a Float",
              "double": "a Double", "boolean": "a Boolean", "timestamp": "a Timestamp"}
# The service prints its patterns with the anchors botocore's model has since dropped
# (botocore 1.34: TrainingJobName '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}', TagKey '^(...)$').
_ANCHORS = {"TrainingJobName": ("^", ""), "ExperimentEntityName": ("^", ""),
            "TagKey": ("^", "$"), "TagValue": ("^", "$"), "S3Uri": ("^", "$"),
            "RoleArn": ("^", "$"), "FileSystemId": ("^", "$"), "ArnOrName": ("", "$")}
_POSIX = {"Alnum": "a-zA-Z0-9", "Alpha": "a-zA-Z", "Digit": "0-9", "Upper": "A-Z", "Lower": "a-z",
          "XDigit": "0-9a-fA-F", "Punct": "!-/:-@\\[-`{-~", "Graph": "!-~", "Print": " -~",
          "Space": " \\t\\n\\x0b\\f\\r", "Blank": " \\t", "ASCII": "\\x00-\\x7f"}
_JAVA_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"  # Java's '.' stops at every line terminator
_PROPERTY = re.compile(r"\\([pP])(?:\{(?:Is)?(\w+)\}|(\w))")
_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})(?:\\u([dD][c-fC-F][0-9a-fA-F]{2}))?")
_LIST_HERE = "Start of list found where not expected"
_CONSTRAINTS: dict[str, list[tuple[str, Any]]] = {}


def validation_errors(operation_name: str, params: dict[str, Any]) -> list[str]:
    """Each violation as ``Value ... at '...' failed to satisfy constraint: ...``; [] if valid.

    A body that does not deserialize gives one item instead: the SerializationException text."""
    unreadable, errors = _check(operation_name, params)
    return [unreadable] if unreadable is not None else errors


def validate_request(operation_name: str, params: dict[str, Any],
                     required: tuple[str, ...] = ()) -> None:
    """Raise ValidationException (SerializationException for a wrong JSON type) unless valid.

    required: top-level members to treat as required beyond the model's own."""
    unreadable, errors = _check(operation_name, params, required)
    if unreadable is not None:
        raise SerializationException(unreadable)
    if errors:
        raise ValidationException(format_validation_message(errors))


def format_validation_message(errors: list[str]) -> str:
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)


def enum_values(shape_name: str) -> list[str]:
    """The values the service model allows for an enum shape (e.g. TrainingInstanceType)."""
    return list(_model().shape_for(shape_name).enum)


@functools.cache
def botocore_session() -> Any:
    """The process's botocore session: its loader parses each service's JSON model once, for
    this validation and for the boto3 clients made on it (emulator.storage.s3)."""
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def _model() -> Any:
    return botocore_session().get_service_model("sagemaker")


def _check(operation_name: str, params: Any,
           required: tuple[str, ...] = ()) -> tuple[str | None, list[str]]:
    model = _model()
    try:
        shape = model.operation_model(operation_name).input_shape
    except Exception as err:  # botocore's OperationNotFoundError, or a name it cannot look up
        raise UnknownOperationException(f"Unknown operation {operation_name!r}") from err
    errors: list[str] = []
    try:
        if not isinstance(params, dict):  # Coral names a bare list; any other body, nothing
            raise _Unreadable(_LIST_HERE if isinstance(params, list) else "")
        if shape is not None:
            _walk(shape, params, "", errors, required=frozenset(required))
    except _Unreadable as err:
        return str(err.args[0]), []
    except RecursionError:
        return "", []
    return None, errors


def _walk(shape: Any, value: Any, path: str, errors: list[str], own: bool = True,
          required: frozenset[str] = frozenset()) -> Any:
    """Check value against shape, deepest first; own=False leaves shape's own constraints to the
    caller, which brackets them for the whole collection. Returns the value as Java holds it."""
    kind = shape.type_name
    container = {"structure": dict, "list": list, "map": dict}.get(kind)
    if container is not None and not isinstance(value, container):
        raise _Unreadable(_LIST_HERE if isinstance(value, list) else
                          "Expected null" if kind == "structure" else f"Expected {kind} or null")
    if kind == "structure":
        for name, member in shape.members.items():
            sub = f"{path}.{_lower(name)}" if path else _lower(name)
            if value.get(name) is not None:
                _walk(member, value[name], sub, errors)
            elif name in shape.required_members or name in required:
                errors.append(_message(member, None, sub, "Member must not be null"))
        return value
    if kind != "list" and kind != "map":
        value = _scalar(shape, value)
    if own:
        errors.extend(_message(shape, value, path, p) for p in _failures(shape, value))
    if kind == "list":
        items = [(f"{path}.{i}.member", v) for i, v in enumerate(value, 1)]
        _elements(shape, shape.member, items, value, "Member", path, errors)
    elif kind == "map":
        if any(_failures(shape.key, _scalar(shape.key, k)) for k in list(value)):
            errors.append(_message(shape, value, path, _bracket("Map keys", shape.key, False)))
        items = [(f"{path}.{k}", v) for k, v in value.items()]
        _elements(shape, shape.value, items, value, "Map value", path, errors)
    return value


def _elements(parent: Any, element: Any, items: list[tuple[str, Any]], whole: Any, label: str,
              path: str, errors: list[str]) -> None:
    failed = saw_null = False
    for sub, item in items:
        if item is None and element.type_name == "structure":
            errors.append(_message(element, None, sub, "Member must not be null"))
        elif item is None:
            failed = saw_null = True
        else:
            item = _walk(element, item, sub, errors, own=False)
            failed = failed or bool(_failures(element, item))
    if failed:
        errors.append(_message(parent, whole, path, _bracket(label, element, saw_null)))


def _bracket(label: str, element: Any, saw_null: bool) -> str:
    phrases = [p for p, _ in _rules(element)] + ["Member must not be null"] * saw_null
    return f"{label} must satisfy constraint: [{', '.join(phrases)}]"


def _scalar(shape: Any, value: Any) -> Any:
    """Coral's reading of one scalar: the value as Java would hold it, or _Unreadable."""
    kind = shape.type_name
    if isinstance(value, (list, dict)):
        raise _Unreadable(_LIST_HERE if isinstance(value, list)
                          else "Start of structure or map found where not expected.")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, {"string": str, "boolean": bool}.get(kind, ())):
        return value
    if kind in ("integer", "long") and number and _finite(value):
        whole, bits = int(value), 32 if kind == "integer" else 64  # it truncates fractions
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if not low <= whole <= high:
            java = "int" if kind == "integer" else "long"
            raise _Unreadable(f"Numeric value ({_java(None, whole)}) out of range of {java} "
                              f"({low} - {high})")
        return whole
    if kind in ("float", "double", "timestamp") and number:
        return _to_float(value)
    token = ("TRUE_VALUE" if value else "FALSE_VALUE") if isinstance(value, bool) else \
        "NUMBER_VALUE" if number else "STRING_VALUE" if isinstance(value, str) else \
        f"{type(value).__name__.upper()}_VALUE"
    raise _Unreadable(f"{token} can not be converted to {_JAVA_TYPE.get(kind, 'a ' + kind)}")


def _failures(shape: Any, value: Any) -> list[str]:
    return [phrase for phrase, test in _rules(shape) if not test(value)]


def _rules(shape: Any) -> list[tuple[str, Any]]:
    if shape.name not in _CONSTRAINTS:
        _CONSTRAINTS[shape.name] = _constraints(shape)
    return _CONSTRAINTS[shape.name]


def _constraints(shape: Any) -> list[tuple[str, Any]]:
    """(phrase, test) per constraint of shape, in the order the service lists them."""
    meta, kind = shape.metadata, shape.type_name
    out: list[tuple[str, Any]] = []
    sized = kind in ("string", "list", "map")
    if sized or kind in ("integer", "long", "float", "double"):
        what, size = ("length", len) if sized else ("value", lambda v: v)
        real = kind in ("float", "double")
        top, low = meta.get("max"), meta.get("min")
        if top is not None:  # 'not <=' so that NaN fails both bounds, as in Java
            out.append((f"Member must have {what} less than or equal to {_bound(top, real)}",
                        lambda v: size(v) <= top))
        if low is not None:
            out.append((f"Member must have {what} greater than or equal to {_bound(low, real)}",
                        lambda v: size(v) >= low))
    if kind == "string" and "pattern" in meta:
        text, (pre, post) = meta["pattern"], _ANCHORS.get(shape.name, ("", ""))
        shown = ("" if text.startswith(pre) else pre) + text + ("" if text.endswith(post) else post)
        regex = _java_regex(text)
        out.append((f"Member must satisfy regular expression pattern: {shown}",
                    lambda v: regex is None or regex.fullmatch(v) is not None))
    if kind == "string" and "enum" in meta:
        allowed = list(meta["enum"])
        out.append((f"Member must satisfy enum value set: [{', '.join(allowed)}]",
                    lambda v: v in allowed))
    return out


def _message(shape: Any, value: Any, path: str, phrase: str) -> str:
    shown = "" if shape.metadata.get("sensitive") else \
        "null " if value is None else f"'{_java(shape, value)}' "
    return f"Value {shown}at '{path}' failed to satisfy constraint: {phrase}"


def _java(shape: Any, value: Any) -> str:
    """Java's toString of the value as the service holds it (it echoes that)."""
    kind = shape.type_name if shape is not None else ""
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, dict) and kind == "structure":
        inner = ", ".join(f"{_lower(n)}={_java(m, value.get(n))}" for n, m in shape.members.items())
        return f"{shape.name}({inner})"
    if isinstance(value, dict):
        values = shape.value if kind == "map" else None
        return "{" + ", ".join(f"{k}={_java(values, v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        members = shape.member if kind == "list" else None
        return "[" + ", ".join(_java(members, v) for v in value) + "]"
    if isinstance(value, (int, float)) and kind in ("integer", "long") and _finite(value):
        value = int(value)
    elif isinstance(value, float) or (isinstance(value, int) and kind in ("float", "double")):
        return _java_double(_to_float(value))
    try:
        return str(value)
    except ValueError:  # an int beyond Python's int-to-str digit limit
        return "NUMBER_VALUE"


def _finite(value: float) -> bool:
    return isinstance(value, int) or math.isfinite(value)  # an int is finite at any size


def _to_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # Jackson reads an out-of-range number as an infinity
        return math.inf if value > 0 else -math.inf


def _java_double(x: float) -> str:
    """Double.toString: plain from 10^-3 to 10^7, else computerized scientific notation."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(x)
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    text = "".join(map(str, digits))
    return f"{'-' * sign}{text[0]}.{text[1:] or '0'}E{len(text) - 1 + int(exponent)}"


def _bound(bound: Any, real: bool) -> str:
    return _java_double(float(bound)) if real else str(int(bound))


def _lower(name: str) -> str:
    return name[:1].lower() + name[1:]


@functools.cache
def _java_regex(pattern: str) -> re.Pattern[str] | None:
    """The model's Java regex in Python's dialect; None (not enforced) if it cannot translate."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(_translate(pattern), re.ASCII)  # Java's \w \d \s \b are ASCII
    except (re.error, ValueError, KeyError):
        return None


def _translate(p: str) -> str:
    """Java regex syntax to Python's: \\p{..} classes, surrogate pairs, '.', quantified anchors."""
    out: list[str] = []
    i, start = 0, -1  # start: where the open character class's items begin; -1 outside one
    while i < len(p):
        c, nxt = p[i], p[i + 1: i + 2]
        prop, uni = _PROPERTY.match(p, i), _UNICODE.match(p, i)
        if prop:
            body, negated = _class_body(prop.group(2) or prop.group(3)), prop.group(1) == "P"
            if start >= 0 and negated:
                raise ValueError(p)
            out.append(body if start >= 0 else f"[{'^' * negated}{body}]")
            i = prop.end()
        elif uni:
            code, low = int(uni.group(1), 16), uni.group(2)
            if low and 0xD800 <= code < 0xDC00:  # a surrogate pair names one code point
                code, i = 0x10000 + ((code - 0xD800) << 10) + int(low, 16) - 0xDC00, uni.end()
            else:
                i += 6
            out.append(f"\\U{code:08x}")
        elif c == "\\":
            out.append(p[i: i + 2])
            i += 2
        elif start >= 0 or c == "[":
            if start >= 0 and (c == "[" or p.startswith("&&", i)):  # Java's nested classes
                raise ValueError(p)
            if c == "[" and start < 0:
                start = i + (2 if nxt == "^" else 1)
                c = p[i:start]
            elif c == "]" and i > start:
                start = -1
            out.append(c)
            i += len(c)
        else:
            if c == ".":
                c = _JAVA_DOT
            elif c in "^$" and nxt and nxt in "{*+?":  # Java lets a quantifier follow an anchor
                c = f"(?:{c})"
            out.append(c)
            i += 1
    return "".join(out)


def _class_body(name: str) -> str:
    return _POSIX[name] if name in _POSIX else _categories()[name]  # KeyError: unknown property


@functools.cache
def _categories() -> dict[str, str]:
    """Unicode general categories (L, Lu, N, Z, ...) as Python character-class bodies."""
    runs: dict[str, list[str]] = {}
    code = 0
    for cat, group in itertools.groupby(unicodedata.category(chr(c))
                                        for c in range(sys.maxunicode + 1)):
        last = code + sum(1 for _ in group) - 1
        for key in (cat, cat[0]):
            runs.setdefault(key, []).append(f"\\U{code:08x}-\\U{last:08x}")
        code = last + 1
    return {key: "".join(parts) for key, parts in runs.items()}
