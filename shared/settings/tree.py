"""The settings of a config tree: every field marked with a `Setting`, found by walking nested models."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from shared.settings.setting import Setting


@dataclass(frozen=True)
class SettingField:
    path: tuple[str, ...]  # attribute names from the root config, e.g. ("auth", "tokens_file")
    setting: Setting
    annotation: Any
    default: Any  # PydanticUndefined for a required setting

    @property
    def required(self) -> bool:
        return self.default is PydanticUndefined

    @property
    def is_list(self) -> bool:
        return get_origin(self.annotation) in (tuple, list, frozenset, set)

    @property
    def is_bool(self) -> bool:
        return self.annotation is bool

    @property
    def choices(self) -> tuple[str, ...]:
        """The allowed values of a Literal field (optionally also None), else ()."""
        values = [a for a in _flatten(self.annotation) if a is not type(None)]
        if values and all(get_origin(v) is Literal for v in values):
            return tuple(str(choice) for v in values for choice in get_args(v))
        return ()


def _flatten(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return [inner for arg in get_args(annotation) for inner in _flatten(arg)]
    return [annotation]


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def setting_fields(model: type[BaseModel], default: BaseModel | None = None, prefix: tuple[str, ...] = ()):
    """Every Setting of `model` and of the models nested in it, in declaration order. A nested model's
    defaults are read from the parent's default instance of it, so a service may give a shared
    component its own defaults (its port, say) and write each of them once."""
    found: list[SettingField] = []
    for name, info in model.model_fields.items():
        own_default = getattr(default, name) if default is not None else info.get_default(call_default_factory=True)
        # The default's own class, when it is one: a service may default a shared component to a subclass
        # that makes more of its fields settings (the preprocessor's internal principals).
        nested = type(own_default) if isinstance(own_default, BaseModel) else _nested_model(info.annotation)
        if nested is not None:
            found += setting_fields(
                nested, own_default if own_default is not PydanticUndefined else None, (*prefix, name)
            )
            continue
        for marker in info.metadata:
            if isinstance(marker, Setting):
                found.append(SettingField((*prefix, name), marker, info.annotation, own_default))
    return found
