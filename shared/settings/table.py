"""The README's settings table, rendered from the same config tree as `--help`."""

from __future__ import annotations

from pydantic import BaseModel

from shared.settings.loader import describe_default
from shared.settings.tree import setting_fields


def settings_table(model: type[BaseModel], service: str) -> str:
    """A Markdown table: flag, environment variable, default, what it does."""
    rows = ["| flag | environment | default | what |", "| --- | --- | --- | --- |"]
    for field in setting_fields(model):
        env = field.setting.env_name(service)
        env_text = f"`{env}`" if env else ""
        if env and field.is_list:
            env_text += f" ({field.setting.separator!r}-separated)"
        if field.required:
            default = "required"
        elif field.default in (None, (), frozenset()):
            default = "unset"
        else:
            default = describe_default(field.default)
        what = field.setting.help + (f" (one of {', '.join(field.choices)})" if field.choices else "")
        rows.append(f"| `{field.setting.flag}` | {env_text} | {default} | {what} |")
    return "\n".join(rows) + "\n"
