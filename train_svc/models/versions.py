"""Which LTX version a diffusers-format model folder holds, read from the folder's own files.

Two independent witnesses are read, and they must agree:
- the transformer's `config.json`: its architecture flags (the version-defining ones are each profile's;
  a flag a config does not list has the class default, as older diffusers releases saved no such key);
- the text encoder's class: `text_encoder` in `model_index.json` (or `modular_model_index.json`), else the
  `architectures` of `text_encoder/config.json`.
The transformer is required; the text encoder is checked when the folder names one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from train_svc.models.version_profiles import PROFILES, LtxVersion

# Defaults of the flags in `LTX2VideoTransformer3DModel.__init__` (diffusers 0.42.1).
_FLAG_DEFAULTS: dict[str, Any] = {
    "gated_attn": False,
    "cross_attn_mod": False,
    "perturbed_attn": False,
    "rope_type": "interleaved",
    "use_prompt_embeddings": True,
    "ff_bias": True,
    "use_prompt_adaln_single": True,
    "use_keyframes_abs_pos_embedding": False,
}
# What each version's transformer config sets, and the Gemma class its text encoder is.
_SIGNATURES: dict[LtxVersion, Mapping[str, Any]] = {v: p.transformer_flags for v, p in PROFILES.items()}
_TEXT_ENCODERS: dict[str, LtxVersion] = {p.text_encoder_class: v for v, p in PROFILES.items()}
_TRANSFORMER_CLASS = "LTX2VideoTransformer3DModel"
_INDEX_FILES = ("model_index.json", "modular_model_index.json")


class UnknownModelVersion(Exception):
    """The folder is not an LTX-2.3 or LTX-2.5 model, or its files disagree about which it is."""


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnknownModelVersion(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UnknownModelVersion(f"{path} is not a JSON object")
    return data


def _version_of_transformer(folder: Path) -> LtxVersion:
    path = folder / "transformer" / "config.json"
    config = _read_json(path)
    if config is None:
        raise UnknownModelVersion(
            f"{folder} has no transformer/config.json; it is not a diffusers-format LTX-2.3 or LTX-2.5 model folder"
        )
    class_name = config.get("_class_name", _TRANSFORMER_CLASS)
    if class_name != _TRANSFORMER_CLASS:
        raise UnknownModelVersion(f"{path} describes a {class_name}, not an LTX-2 transformer ({_TRANSFORMER_CLASS})")
    flags = {name: config.get(name, default) for name, default in _FLAG_DEFAULTS.items()}
    for version, signature in _SIGNATURES.items():
        if flags == signature:
            return version
    closest = min(_SIGNATURES, key=lambda v: sum(flags[name] != value for name, value in _SIGNATURES[v].items()))
    differing = ", ".join(
        f"{name}={flags[name]!r} (LTX-{closest} has {value!r})"
        for name, value in _SIGNATURES[closest].items()
        if flags[name] != value
    )
    raise UnknownModelVersion(f"{path} matches neither LTX-2.3 nor LTX-2.5: {differing}")


def _text_encoder_class(folder: Path) -> tuple[str, Path] | None:
    for name in _INDEX_FILES:
        index = _read_json(folder / name)
        entry = (index or {}).get("text_encoder")
        if isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[1], str):
            return entry[1], folder / name
    config_path = folder / "text_encoder" / "config.json"
    architectures = (_read_json(config_path) or {}).get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0], config_path
    return None


def model_version(folder: Path) -> LtxVersion:
    """The LTX version ("2.3" or "2.5") of a diffusers-format model folder, or UnknownModelVersion."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UnknownModelVersion(f"{folder} is not a directory")
    version = _version_of_transformer(folder)
    found = _text_encoder_class(folder)
    if found is not None:
        class_name, source = found
        encoder_version = _TEXT_ENCODERS.get(class_name)
        if encoder_version is None:
            known = ", ".join(f"{name} (LTX-{v})" for name, v in _TEXT_ENCODERS.items())
            raise UnknownModelVersion(f"{source} names text encoder {class_name}; LTX models use {known}")
        if encoder_version != version:
            raise UnknownModelVersion(
                f"{folder}: the transformer config is LTX-{version}'s but the text encoder ({class_name}, "
                f"in {source.name}) is LTX-{encoder_version}'s"
            )
    return version
