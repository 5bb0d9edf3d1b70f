"""Does a LoRA file fit the loaded transformer? Checked before loading, because diffusers does not say.

`LTX2Pipeline.load_lora_weights` silently skips keys that name no layer of the model (a LoRA for another
depth or another model loads "fine" and changes nothing, or only part of what it should). Every key must
name a Linear layer of the transformer, with A/B shapes that fit its input and output sizes.

A LoRA whose metadata names another LTX version than the base's (train_svc.lora_tools.version_fit) is
refused with LoraVersionMismatch, unless the request allows it: then `fitting_state` holds only the modules
that fit, since diffusers fails on a shape that does not fit and silently skips a layer it does not have.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from shared.request.errors import DomainError, ErrorCode
from train_svc.lora_tools.keys import parse_key
from train_svc.lora_tools.version_fit import LoraFit, fit_modules, lora_version, mismatch_message

_SHOWN = 3
_FORCING = "Set allow_version_mismatch to apply the modules that fit anyway"


class LoraFileError(Exception):
    """The LoRA file is missing, unreadable, or does not fit the base model."""


class LoraVersionMismatch(DomainError):
    """The LoRA was made for another LTX version than the base's, and the request does not allow that."""

    def __init__(self, fit: LoraFit, path: Path):
        message = mismatch_message(fit, f"the LoRA {path.name}", _FORCING)
        metadata = {"lora_version": fit.lora_version, "base_version": fit.base_version}
        super().__init__(ErrorCode.FAILED_PRECONDITION, "LORA_VERSION_MISMATCH", message, metadata)


def _split(key: str) -> tuple[str, str] | None:
    """(module name, "A" or "B") for a LoRA weight key, or None when the key is not one (kohya `.alpha` keys
    do not load with diffusers, so they count as foreign here)."""
    parsed = parse_key(key)
    if parsed is None or parsed.part == "alpha":
        return None
    return parsed.module, parsed.part


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _header(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The file's metadata and the shape of each tensor, read from its header alone."""
    if not path.is_file():
        raise LoraFileError(f"LoRA file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as fh:
            names = fh.keys()  # a safe_open handle is not iterable
            return dict(fh.metadata() or {}), {key: tuple(fh.get_slice(key).get_shape()) for key in names}
    except (SafetensorError, OSError) as exc:
        raise LoraFileError(f"LoRA file {path} is not a readable safetensors file: {exc}") from exc


def version_fit(path: Path, transformer: nn.Module, base_version: str) -> LoraFit:
    """The LoRA's version against `base_version`, and which of its modules fit `transformer` (which must hold
    no LoRA); keys that are not LoRA A/B weights are skipped."""
    metadata, shapes = _header(path)
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    foreign: list[str] = []
    for key, shape in shapes.items():
        parsed = _split(key)
        if parsed is None:
            foreign.append(f"{key}: not a lora_A / lora_B weight")
        else:
            pairs.setdefault(parsed[0], {})[parsed[1]] = shape
    linears = {
        name: (m.out_features, m.in_features) for name, m in transformer.named_modules() if isinstance(m, nn.Linear)
    }
    fit = fit_modules(pairs, linears, lora_version=lora_version(metadata), base_version=base_version)
    return replace(fit, skipped=fit.skipped + tuple(foreign))


def fitting_state(path: Path, fit: LoraFit) -> dict[str, torch.Tensor]:
    """The file's tensors of the modules `fit` loads; LoraFileError when there are none."""
    loaded = set(fit.loaded)
    state = {key: value for key, value in load_file(path).items() if (p := _split(key)) is not None and p[0] in loaded}
    if not state:
        raise LoraFileError(
            f"LoRA file {path} was made for LTX-{fit.lora_version}: none of its modules fit the LTX-{fit.base_version} "
            "base model"
        )
    return state


def check_lora_file(path: Path, transformer: nn.Module) -> int:
    """Raise LoraFileError unless every tensor of the file adapts a layer of `transformer`; return the layer count."""
    _, shapes = _header(path)
    linears = {name: m for name, m in transformer.named_modules() if isinstance(m, nn.Linear)}
    unknown, missing, misfit = [], [], []
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        parsed = _split(key)
        if parsed is None:
            unknown.append(key)
            continue
        module, part = parsed
        if module not in linears:
            missing.append(key)
            continue
        pairs.setdefault(module, {})[part] = shape
    for module, parts in pairs.items():
        layer = linears[module]
        a, b = parts.get("A"), parts.get("B")
        if a is None or b is None:
            misfit.append(f"{module} (lacks lora_{'A' if a is None else 'B'})")
        elif len(a) != 2 or len(b) != 2 or a[1] != layer.in_features or b[0] != layer.out_features or a[0] != b[1]:
            misfit.append(f"{module} (A {list(a)}, B {list(b)} for a {layer.in_features}->{layer.out_features} layer)")
    problems = []
    if unknown:
        problems.append(f"keys that are not LoRA A/B weights: {_listed(unknown)}")
    if missing:
        problems.append(f"keys for layers this model does not have: {_listed(missing)}")
    if misfit:
        problems.append(f"weights that do not fit their layer: {_listed(misfit)}")
    if not problems and not pairs:
        problems.append("no LoRA weights at all")
    if problems:
        raise LoraFileError(f"LoRA file {path} does not match the base model: " + "; ".join(problems))
    return len(pairs)
