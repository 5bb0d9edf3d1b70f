"""The base models one service hosts, by id: `--base-model` repeats as `ID=PATH`, and a bare value is the default.

Callers name a base by its id (TrainingInput.base_model, GenerateVideoRequest.base_model), never by a path.
A bare value gets the id `default`; without a bare value the first `ID=PATH` is the default. Ids are short
lowercase names (`_ID`), unique within the service.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from train_svc.models.base_model import BaseModel, BaseModelNotFound, resolve_base_model

DEFAULT_ID = "default"
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
ID_RULE = "1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"


class BaseModelSettingError(ValueError):
    """A --base-model value the service cannot use (bad id, a repeated id, two defaults)."""


class UnknownBaseModel(LookupError):
    """A caller named a base id this service does not host."""

    def __init__(self, base_id: str, hosted: Sequence[str]):
        self.base_id = base_id
        self.hosted = tuple(hosted)
        super().__init__(f"no base model {base_id!r} on this service; it hosts {', '.join(self.hosted)}")


@dataclass(frozen=True)
class BaseEntry:
    id: str
    name: str  # the preset, directory or hub id it names


def parse_base_models(values: Sequence[str]) -> tuple[list[BaseEntry], str]:
    """The entries of the `--base-model` values and the id of the default one."""
    if not values:
        raise BaseModelSettingError("--base-model: at least one base model is needed")
    entries: list[BaseEntry] = []
    bare = [value for value in values if _split(value) is None]
    if len(bare) > 1:
        raise BaseModelSettingError(
            f"--base-model: only one value may be bare (the default base); got {', '.join(map(repr, bare))}: "
            "give the others an id (ID=PATH)"
        )
    for value in values:
        split = _split(value)
        base_id, name = (DEFAULT_ID, value) if split is None else split
        if not name:
            raise BaseModelSettingError(f"--base-model {value!r}: nothing after '='")
        if any(entry.id == base_id for entry in entries):
            raise BaseModelSettingError(f"--base-model: the id {base_id!r} is given twice")
        entries.append(BaseEntry(base_id, name))
    default = DEFAULT_ID if bare else entries[0].id
    return entries, default


def _split(value: str) -> tuple[str, str] | None:
    """(id, name) of an `ID=PATH` value, or None for a bare one. A value whose part before the first '='
    is not an id (a path or URL holding '=') is bare."""
    head, sep, tail = value.partition("=")
    if not sep:
        return None
    if _ID.fullmatch(head):
        return head, tail
    if "/" in head or head.startswith((".", "~")):
        return None
    raise BaseModelSettingError(f"--base-model {value!r}: the id {head!r} is not valid ({ID_RULE})")


class BaseModels:
    """The hosted bases, resolved (so a missing or unknown model stops the service at start)."""

    def __init__(self, bases: dict[str, BaseModel], default_id: str):
        if default_id not in bases:
            raise BaseModelSettingError(f"the default base {default_id!r} is not among {', '.join(bases)}")
        self._bases = dict(bases)
        self.default_id = default_id

    @classmethod
    def resolve(cls, values: Sequence[str]) -> BaseModels:
        """Resolve every `--base-model` value; BaseModelNotFound names the id of the one that fails."""
        entries, default = parse_base_models(values)
        bases: dict[str, BaseModel] = {}
        for entry in entries:
            try:
                bases[entry.id] = resolve_base_model(entry.name)
            except BaseModelNotFound as exc:
                raise BaseModelNotFound(f"--base-model {entry.id}: {exc}") from exc
        return cls(bases, default)

    @property
    def default(self) -> BaseModel:
        return self._bases[self.default_id]

    @property
    def ids(self) -> list[str]:
        return list(self._bases)

    def get(self, base_id: str) -> BaseModel:
        """The base with id `base_id` ("" = the default), or UnknownBaseModel."""
        base = self._bases.get(base_id or self.default_id)
        if base is None:
            raise UnknownBaseModel(base_id, self.ids)
        return base

    def __iter__(self) -> Iterator[tuple[str, BaseModel]]:
        return iter(self._bases.items())

    def __len__(self) -> int:
        return len(self._bases)
