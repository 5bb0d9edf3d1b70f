"""Flags and environment variables -> a validated config tree, with every problem reported at once.

Precedence: a flag given on the command line, else its environment variable (when set and not empty),
else the default written on the config class. Values reach pydantic as the strings the operator typed
(lists split first), so conversion and range checks happen in one place and a bad value is an error
naming the flag and the variable, never a traceback.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.quoting import quote
from shared.settings.tree import SettingField, setting_fields

M = TypeVar("M", bound=BaseModel)
_GIB = 1 << 30


def _dest(field: SettingField) -> str:
    return "__".join(field.path)


def _help(field: SettingField, service: str) -> str:
    parts = [field.setting.help] if field.setting.help else []
    if field.choices:
        parts.append("one of " + ", ".join(field.choices))
    facts = []
    if env := field.setting.env_name(service):
        facts.append(f"env {env}" + (f", {field.setting.separator!r}-separated" if field.is_list else ""))
    if field.required:
        facts.append("required")
    elif field.default not in (None, (), frozenset()):
        facts.append(f"default {describe_default(field.default)}")
    if field.is_list:
        facts.append("repeatable")
    return "; ".join(parts) + (f" ({'; '.join(facts)})" if facts else "")


def describe_default(value: Any) -> str:
    if isinstance(value, tuple | frozenset | set | list):
        return ",".join(sorted(str(v) for v in value))
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int) and value >= _GIB and value % _GIB == 0:
        return f"{value} ({value // _GIB} GiB)"
    return str(value)


def _parser(fields: list[SettingField], service: str, prog: str, description: str) -> argparse.ArgumentParser:
    """The parser `--help` shows; parsed values are raw strings, checked by `load_settings`."""
    parser = argparse.ArgumentParser(prog=prog, description=description, argument_default=argparse.SUPPRESS)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for field in fields:
        kwargs: dict[str, Any] = {"dest": _dest(field), "help": _help(field, service)}
        if field.is_bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = "{" + ",".join(field.choices) + "}" if field.choices else "VALUE"
            if field.is_list:
                kwargs["action"] = "append"
        group = (
            groups.setdefault(field.path[0], parser.add_argument_group(field.path[0]))
            if len(field.path) > 1
            else parser
        )
        group.add_argument(field.setting.flag, **kwargs)
    return parser


def _raw_values(fields: list[SettingField], given: Mapping[str, Any], env: Mapping[str, str], service: str):
    values: dict[tuple[str, ...], Any] = {}
    for field in fields:
        if _dest(field) in given:
            value = given[_dest(field)]
            if field.is_list and field.setting.split_flag:
                value = [part.strip() for item in value for part in item.split(field.setting.separator) if part.strip()]
            values[field.path] = value
            continue
        name = field.setting.env_name(service)
        text = env.get(name, "").strip() if name else ""
        if not text:
            continue
        if field.is_list:
            values[field.path] = [part.strip() for part in text.split(field.setting.separator) if part.strip()]
        else:
            values[field.path] = text
    return values


def _nest(fields: list[SettingField], values: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """Values by attribute path -> nested dicts; every nested model gets its dict, even an empty one, so
    a required setting inside it is reported by name."""
    tree: dict[str, Any] = {}
    for field in fields:
        node = tree
        for key in field.path[:-1]:
            node = node.setdefault(key, {})
    for path, value in values.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def _with_nested_defaults(model: type[BaseModel], tree: dict[str, Any]) -> dict[str, Any]:
    """A nested model given only some values keeps the parent's defaults for the rest."""
    for name, info in model.model_fields.items():
        if name in tree and isinstance(tree[name], dict) and isinstance(info.annotation, type):
            default = info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                tree[name] = {**default.model_dump(), **_with_nested_defaults(type(default), tree[name])}
    return tree


def _problems(error: ValidationError, fields: list[SettingField], service: str) -> list[str]:
    by_path = {field.path: field for field in fields}
    problems = []
    for item in error.errors():
        location = tuple(str(part) for part in item["loc"])
        field = next((by_path[location[:n]] for n in range(len(location), 0, -1) if location[:n] in by_path), None)
        if field is None:
            problems.append(f"{'.'.join(location) or 'settings'}: {item['msg']}")
            continue
        env = field.setting.env_name(service)
        names = field.setting.flag + (f" (env {env})" if env else "")
        if item["type"] == "missing":
            problems.append(f"{names} is required")
        elif item["type"] == "value_error":  # our validators' messages quote the value themselves
            problems.append(f"{names}: {item['msg'].removeprefix('Value error, ')}")
        else:
            problems.append(f"{names}: {item['msg']} (got {quote(str(item['input']))})")
    return problems


def load_settings(
    model: type[M],
    argv: Sequence[str] | None,
    *,
    service: str,
    prog: str,
    description: str,
    env: Mapping[str, str] | None = None,
) -> M:
    """Parse `argv` and `env` (default: the process's) into `model`; exit 2 naming every bad setting."""
    fields = setting_fields(model)
    parser = _parser(fields, service, prog, description)
    given = vars(parser.parse_args(argv))
    values = _raw_values(fields, given, os.environ if env is None else env, service)
    try:
        return model.model_validate(_with_nested_defaults(model, _nest(fields, values)))
    except ValidationError as exc:
        parser.error("; ".join(_problems(exc, fields, service)))
