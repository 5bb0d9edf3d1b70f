"""Job events <-> JSON, for the job store. Each event is stored as its type name and its fields.

Generic over the frozen dataclasses of train_svc.jobs.events (and FileReport): a field is encoded by
its value (enums by value, bytes as base64, tuples as lists, nested dataclasses as objects) and
decoded by its annotated type, so a new event type needs no code here, only a place in EVENT_TYPES.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from enum import Enum
from functools import cache
from typing import Any

from shared.dataset_report import FileReport
from train_svc.jobs.events import (
    ArtifactWritten,
    CheckpointWritten,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    FileSkipped,
    JobEvent,
    JobResumed,
    SampleEncoded,
    StateChanged,
    StepCompleted,
    ValidationPreview,
)

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        StateChanged,
        DatasetProgress,
        FileSkipped,
        DatasetWarning,
        FileReport,
        SampleEncoded,
        StepCompleted,
        ArtifactWritten,
        ValidationPreview,
        DatasetReady,
        CheckpointWritten,
        JobResumed,
    )
}


class UnknownEvent(ValueError):
    """A stored event whose type this version does not know."""


def encode_event(event: JobEvent) -> tuple[str, str]:
    """(type name, JSON of its fields)."""
    kind = type(event).__name__
    if kind not in EVENT_TYPES:
        raise UnknownEvent(f"{kind} is not a storable job event")
    return kind, json.dumps(_to_json(event), separators=(",", ":"))


def decode_event(kind: str, payload: str) -> JobEvent:
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise UnknownEvent(f"stored event of unknown type {kind!r}")
    return _from_json(cls, json.loads(payload))


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    return value


@cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_json(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if data is None:
            return None
        if len(options) != 1:
            raise TypeError(f"cannot decode a value of the union {hint}")
        return _from_json(options[0], data)
    if origin in (tuple, list):
        item = typing.get_args(hint)[0]
        decoded = [_from_json(item, value) for value in data]
        return tuple(decoded) if origin is tuple else decoded
    if dataclasses.is_dataclass(hint):
        hints = _field_types(hint)
        return hint(**{name: _from_json(hints[name], value) for name, value in data.items() if name in hints})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if hint is bytes:
        return base64.b64decode(data)
    if hint is float:
        return float(data)
    return data
