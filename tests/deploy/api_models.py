"""Checking a Kubernetes document against the API models of `kubeflow-trainer-api` (pydantic, generated
from Kubeflow Trainer's OpenAPI, with Kubernetes' core/v1 models beside Trainer's own): wrong types with
the full path, fields the models do not know, and required fields left out."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

Doc = dict[str, Any]

# What the generated from_dict raises on a bad value: pydantic's ValidationError (a ValueError), the
# ValueError of a oneOf type (Quantity, IntOrString), or a TypeError/AttributeError on a list or object
# of the wrong shape.
BAD_VALUE = (ValueError, TypeError, AttributeError)


def type_errors(annotation: Any, value: Any, path: str) -> Iterator[str]:
    """Where from_dict fails on `value`, a field of type `annotation` at `path`.

    The generated from_dict builds each nested model on its own, so pydantic's error locations are
    relative to the innermost model; this descends to the deepest model that fails and prefixes them.
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if value is None:  # unset: every optional field
        return
    if origin in (Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        if len(members) == 1:  # Optional[X]; else a union of plain types, left to the model that holds it
            yield from type_errors(members[0], value, path)
    elif origin is list:
        if not isinstance(value, list):
            yield f"{path}: Input should be a valid list"
            return
        for index, item in enumerate(value):
            yield from type_errors(args[0], item, f"{path}[{index}]")
    elif origin is dict:
        if not isinstance(value, dict):
            yield f"{path}: Input should be a valid dictionary"
            return
        for key, item in value.items():
            yield from type_errors(args[1], item, f"{path}.{key}")
    elif hasattr(annotation, "from_dict"):  # a model; other types are checked by the model that holds them
        try:
            annotation.from_dict(value)
            return
        except BAD_VALUE as error:
            failure = error
        fields = {field.alias or name: field.annotation for name, field in annotation.model_fields.items()}
        if not isinstance(value, dict) or "actual_instance" in fields:  # a oneOf type: its message says more
            fields = {}
        nested = [
            problem for key, kind in fields.items() for problem in type_errors(kind, value.get(key), f"{path}.{key}")
        ]
        if nested:
            yield from nested
        elif isinstance(failure, ValidationError):
            for detail in failure.errors():
                where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
                # from_dict hands pydantic None for an absent field: absent, where that is an error
                yield f"{path}{where}: {'Field required' if detail['input'] is None else detail['msg']}"
        else:
            yield f"{path}: {str(failure).split('. Details:')[0]}"


def dropped(given: Any, kept: Any, path: str = "") -> Iterator[str]:
    """The fields of `given` that the round trip `kept` lacks (None is an unset field: nothing to keep)."""
    if isinstance(given, dict) and isinstance(kept, dict):
        for key, value in given.items():
            if key in kept:
                yield from dropped(value, kept[key], f"{path}.{key}")
            elif value is not None:
                yield f"{path}.{key}"
    elif isinstance(given, list) and isinstance(kept, list):
        for index, item in enumerate(given):
            if index < len(kept):
                yield from dropped(item, kept[index], f"{path}[{index}]")
            else:
                yield f"{path}[{index}]"


def missing(model: Any, given: Any, path: str = "") -> Iterator[str]:
    """The required fields of the models that `given` leaves out: from_dict does not reject them but fills
    them in ('' for most, 0 or False for some), so they are looked for in the parsed `model`."""
    if isinstance(model, list) and isinstance(given, list):
        for index, (item, given_item) in enumerate(zip(model, given, strict=True)):
            yield from missing(item, given_item, f"{path}[{index}]")
    elif isinstance(model, dict) and isinstance(given, dict):
        for key, item in model.items():
            yield from missing(item, given.get(key), f"{path}.{key}")
    elif isinstance(model, BaseModel) and isinstance(given, dict):
        for name, field in type(model).model_fields.items():
            key = field.alias or name
            if given.get(key) is not None:
                yield from missing(getattr(model, name), given[key], f"{path}.{key}")
            elif field.is_required():
                yield f"{path}.{key}: Field required"


def model_problems(model: Any, doc: Doc) -> list[str]:
    """`doc` against one of the API models: wrong types, unknown fields and missing required ones."""
    try:
        parsed = model.from_dict(doc)
    except BAD_VALUE as error:
        return list(type_errors(model, doc, "")) or [f".: {error}"]
    return [f"{path}: unknown field" for path in dropped(doc, parsed.to_dict())] + list(missing(parsed, doc))
