"""The spec's JSON request body <-> TrainingInput, with every JSON-level problem reported at once.

Keys and values are the spec's: "resolution": "medium", "aspect_ratio": "16:9", "validation":
[{"prompt": "..."}]. `null` for any key means "not given" (its default applies). Integers may be
written as 32 or 32.0 (as JSON Schema allows), never 32.5 or true.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from shared.api import common_pb2, training_service_pb2
from shared.request.errors import FieldViolation, InvalidRequest
from shared.request.validate import ASPECT_RATIOS, RESOLUTIONS, resolve

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_FIELDS = training_service_pb2.TrainingInput.DESCRIPTOR.fields_by_name
_ENUM_NUMBERS: dict[str, dict[str, int]] = {
    common_pb2.Resolution.DESCRIPTOR.full_name: {res.value: num for num, res in RESOLUTIONS.items()},
    common_pb2.AspectRatio.DESCRIPTOR.full_name: {ar.value: num for num, ar in ASPECT_RATIOS.items()},
}
_ENUM_NAMES: dict[str, dict[int, str]] = {
    enum: {num: name for name, num in numbers.items()} for enum, numbers in _ENUM_NUMBERS.items()
}


class _EnumType(Protocol):
    @property
    def full_name(self) -> str: ...


class _Field(Protocol):
    """What is read here of a field descriptor (the pure-Python and the upb descriptor types both have it)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> int: ...
    @property
    def is_repeated(self) -> bool: ...
    @property
    def enum_type(self) -> _EnumType | None: ...


def input_from_json(data: Mapping[str, Any], *, url_required: bool = True) -> training_service_pb2.TrainingInput:
    """Convert a parsed JSON request body. Raise InvalidRequest naming every unknown key, wrong JSON type
    and unknown enum string, together with the range violations `resolve` finds in what did convert
    (`url_required`: as for `resolve`). A body without JSON-level problems is returned as is: its ranges
    are `resolve`'s business."""
    if not isinstance(data, Mapping):
        raise InvalidRequest([FieldViolation("", f"the request must be a JSON object (got {_show(data)})")])
    message = training_service_pb2.TrainingInput()
    violations: list[FieldViolation] = []
    for key, value in data.items():
        field = _FIELDS.get(key)
        if field is None:
            violations.append(FieldViolation(str(key), _unknown_key(str(key), list(_FIELDS))))
        elif value is not None:
            violations += _set_field(message, field, value)
    if not violations:
        return message
    reported = {v.field for v in violations}
    try:
        resolve(message, url_required=url_required)
    except InvalidRequest as err:
        violations += [v for v in err.violations if not _within(v.field, reported)]
    raise InvalidRequest(violations)


def input_to_json(input: training_service_pb2.TrainingInput) -> dict[str, Any]:
    """The fields set in `input` as the spec's JSON body (unset fields are left out)."""
    body: dict[str, Any] = {}
    message: Message = input  # field names come from the descriptor: the untyped HasField
    for field in input.DESCRIPTOR.fields:
        value = getattr(input, field.name)
        is_set = message.HasField(field.name) if field.has_presence else bool(value)
        if not is_set:
            continue
        if field.is_repeated:
            body[field.name] = [{"prompt": entry.prompt} for entry in value]
        elif field.type == FieldDescriptor.TYPE_ENUM:
            body[field.name] = _ENUM_NAMES[_enum_full_name(field)].get(value, value)
        else:
            body[field.name] = value
    return body


def _set_field(message: training_service_pb2.TrainingInput, field: _Field, value: Any) -> list[FieldViolation]:
    name = field.name
    if field.is_repeated:
        return _set_validation(message, name, value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        numbers = _ENUM_NUMBERS[_enum_full_name(field)]
        if not isinstance(value, str) or value not in numbers:
            return [FieldViolation(name, f"must be one of {', '.join(numbers)} (got {_show(value)})")]
        setattr(message, name, numbers[value])
    elif field.type == FieldDescriptor.TYPE_INT32:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return [FieldViolation(name, f"must be an integer (got {_show(value)})")]
        if not _INT32_MIN <= value <= _INT32_MAX:
            return [FieldViolation(name, f"must be a 32-bit integer (got {value})")]
        setattr(message, name, value)
    elif field.type == FieldDescriptor.TYPE_DOUBLE:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [FieldViolation(name, f"must be a number (got {_show(value)})")]
        setattr(message, name, float(value))
    elif field.type == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            return [FieldViolation(name, f"must be true or false (got {_show(value)})")]
        setattr(message, name, value)
    else:  # TYPE_STRING
        if not isinstance(value, str):
            return [FieldViolation(name, f"must be a string (got {_show(value)})")]
        setattr(message, name, value)
    return []


def _enum_full_name(field: _Field) -> str:
    if field.enum_type is None:
        raise TypeError(f"the enum field {field.name!r} has no enum type in its descriptor")
    return field.enum_type.full_name


def _set_validation(message: training_service_pb2.TrainingInput, name: str, value: Any) -> list[FieldViolation]:
    """Entries are always appended, even bad ones, so that indices in later messages stay right."""
    if not isinstance(value, list):
        return [FieldViolation(name, f'must be a list of {{"prompt": "..."}} objects (got {_show(value)})')]
    violations = []
    for index, entry in enumerate(value):
        path = f"{name}[{index}]"
        prompt = message.validation.add()
        if not isinstance(entry, Mapping):
            violations.append(FieldViolation(path, f'must be an object {{"prompt": "..."}} (got {_show(entry)})'))
            continue
        for key in entry:
            if key != "prompt":
                violations.append(FieldViolation(f"{path}.{key}", _unknown_key(str(key), ["prompt"])))
        text = entry.get("prompt")
        if text is not None and not isinstance(text, str):
            violations.append(FieldViolation(f"{path}.prompt", f"must be a string (got {_show(text)})"))
        elif text is not None:
            prompt.prompt = text
    return violations


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return "is not a field of the request" + (f" (did you mean {close[0]!r}?)" if close else "")


def _within(field: str, reported: set[str]) -> bool:
    """True if `field` is, or lies inside, a field that already has a JSON-level violation."""
    return any(field == r or field.startswith((f"{r}.", f"{r}[")) for r in reported)


def _show(value: Any) -> str:
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    kind = "null" if value is None else kinds.get(type(value), type(value).__name__)
    text = json.dumps(value, default=str)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"
