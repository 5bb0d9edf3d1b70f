"""Where a base model comes from: a diffusers-format LTX-2.3 or LTX-2.5 directory, a hub id, or a preset.

A base model is a version plus a directory: the version is read from the directory's own files
(train_svc.models.versions), never taken from a flag.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from train_svc.models import tiny_preset_25
from train_svc.models.tiny_preset import PRESET_NAME, ensure_tiny_preset
from train_svc.models.version_profiles import LtxVersion, VersionProfile, profile_of
from train_svc.models.versions import UnknownModelVersion, model_version

# The diffusers-format LTX-2.3 checkpoint on the Hugging Face hub.
DEFAULT_BASE_MODEL = "diffusers/LTX-2.3-Diffusers"
_REQUIRED_PARTS = (
    "transformer",
    "vae",
    "audio_vae",
    "vocoder",
    "text_encoder",
    "tokenizer",
    "connectors",
    "scheduler",
)
# The tiny presets by name.
PRESETS: dict[str, Callable[[Path | None], Path]] = {
    PRESET_NAME: ensure_tiny_preset,
    tiny_preset_25.PRESET_NAME: tiny_preset_25.ensure_tiny_preset_25,
}


class BaseModelNotFound(Exception):
    """The base model cannot be found or is not a diffusers-format LTX-2.3 or LTX-2.5 pipeline."""


@dataclass(frozen=True)
class BaseModel:
    name: str  # what the user asked for (preset, directory or hub id)
    path: Path  # local diffusers-format pipeline directory
    version: LtxVersion  # read from the directory's files

    @property
    def is_preset(self) -> bool:
        return self.name in PRESETS

    @property
    def profile(self) -> VersionProfile:
        return profile_of(self.version)


def default_base_model() -> str:
    return os.environ.get("LTX_BASE_MODEL") or DEFAULT_BASE_MODEL


def _check_layout(path: Path, name: str) -> None:
    if not (path / "model_index.json").is_file():
        raise BaseModelNotFound(f"{name}: {path} has no model_index.json; it is not a diffusers pipeline folder")
    missing = [part for part in _REQUIRED_PARTS if not (path / part).is_dir()]
    if missing:
        raise BaseModelNotFound(f"{name}: {path} lacks the LTX-2 component folders {', '.join(missing)}")


def _download_blocker() -> str | None:
    """Why a hub download may not happen now, or None when it may."""
    if os.environ.get("LTX_TRAINER_ALLOW_DOWNLOAD") != "1":
        return "downloads are off (set LTX_TRAINER_ALLOW_DOWNLOAD=1 on a machine with hub access"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return "HF_HUB_OFFLINE=1 forbids downloads (unset it on a machine with hub access"
    return None


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError):
        pass
    blocker = _download_blocker()
    if blocker:
        raise BaseModelNotFound(
            f"base model {repo_id!r} is not a local directory and is not in the Hugging Face cache; "
            f"{blocker}, or pass --base-model /path/to/LTX-2.3-Diffusers). "
            f"For a trial run use --base-model {PRESET_NAME}."
        )
    try:
        return Path(snapshot_download(repo_id))
    except Exception as exc:  # network, auth, missing repo: all end the same way for the user
        raise BaseModelNotFound(
            f"could not download base model {repo_id!r}: {exc}. For a trial run use --base-model {PRESET_NAME}."
        ) from exc


def resolve_base_model(name: str | None = None, *, cache_dir: Path | None = None) -> BaseModel:
    """Turn a --base-model value into a local pipeline directory, or raise BaseModelNotFound."""
    name = name or default_base_model()
    if name in PRESETS:
        path = PRESETS[name](cache_dir)
    elif Path(name).expanduser().exists():
        path = Path(name).expanduser().resolve()
    elif name.count("/") == 1 and not name.startswith((".", "/", "~")):
        path = _from_hub(name)
    else:
        raise BaseModelNotFound(
            f"base model {name!r} does not exist. Pass a diffusers-format LTX-2.3 or LTX-2.5 directory, a hub id, "
            f"or --base-model {PRESET_NAME} for a trial run."
        )
    _check_layout(path, name)
    try:
        version = model_version(path)
    except UnknownModelVersion as exc:
        raise BaseModelNotFound(f"base model {name!r}: {exc}") from exc
    return BaseModel(name=name, path=path, version=version)
