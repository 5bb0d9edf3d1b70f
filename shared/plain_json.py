"""Frozen dataclasses <-> JSON-ready values, driven by their annotations (for stores and caches).

A value is encoded as itself: a dataclass as an object of its fields, an enum by its value, bytes as
base64, a Path as its string, a tuple or list as a list. Decoding reads the annotated type of each
field, so nested dataclasses, optionals and tuples come back as they were. A field the data lacks
takes its default, and data for a field the class no longer has is ignored, so stored values outlive
small changes to their classes.
"""

from __future__ import annotations

import base64
import dataclasses
import types
import typing
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return value


@cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(hint: Any, data: Any) -> Any:
    """The value of type `hint` that `to_plain` turned into `data`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"cannot decode a value of the union {hint}")
        return from_plain(options[0], data)
    if origin in (tuple, list):
        item = typing.get_args(hint)[0]
        decoded = [from_plain(item, value) for value in data]
        return tuple(decoded) if origin is tuple else decoded
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _field_types(hint)
        return hint(**{name: from_plain(hints[name], value) for name, value in data.items() if name in hints})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if hint is bytes:
        return base64.b64decode(data)
    if hint is Path:
        return Path(data)
    if hint is float:
        return float(data)
    return data
