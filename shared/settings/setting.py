"""What a config field needs to be an operator's setting: `Setting` metadata on a pydantic field."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class SettingsModel(BaseModel):
    """Base of every config class: immutable, unknown fields refused, values checked on assignment."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


@dataclass(frozen=True)
class Setting:
    """`flag` (e.g. "--port") and `env` (e.g. "{service}_PORT": `{service}` is the loading service's
    variable prefix, such as TRAIN_SVC). A field holding a tuple is a list: its flag repeats, and its
    variable is split on `separator` (so is each flag value when `split_flag`). An empty variable counts
    as unset."""

    flag: str
    env: str | None = None
    help: str = ""
    separator: str = ","
    split_flag: bool = False

    def env_name(self, service: str) -> str | None:
        return self.env.format(service=service) if self.env else None
