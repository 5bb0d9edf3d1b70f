"""New LoRA files from old: without a branch, in another layout, or with a strength folded in.

Every transform keeps the input's metadata (its `ltx_version` too) and updates what it changed. Conversions
fold alpha into lora_B (a kohya `.alpha` key, or diffusers' `lora_alpha` over the module's rank), so both
layouts apply exactly what the input did: the original / ComfyUI layout's loaders assume alpha == rank, and
the diffusers output carries `lora_adapter_metadata` with lora_alpha == r, which diffusers reloads exactly.
With nothing to fold (our own files), tensors are copied unchanged, so converting there and back is bit-exact.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from train_svc.lora_tools.keys import Branch, Layout, make_key
from train_svc.lora_tools.lora_io import LoraFile
from train_svc.lora_tools.summary import ADAPTER_METADATA, adapter_config, parsed_keys

_FORMATS: dict[Layout, str] = {"comfyui": "ltx2-original", "diffusers": "ltx2-diffusers"}


class TransformError(Exception):
    """The transform cannot be done on this file (e.g. it would leave no LoRA weight)."""


def _require_lora_keys(lora: LoraFile, what: str) -> None:
    parsed, other = parsed_keys(lora)
    if other:
        shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        raise TransformError(f"cannot {what}: keys that are not LoRA weights of the transformer: {shown}")
    if not parsed:
        raise TransformError(f"cannot {what}: the file holds no LoRA weights")


def strip_branch(lora: LoraFile, branch: Branch) -> LoraFile:
    """`lora` without the keys of `branch` (see keys.py for which modules are audio)."""
    _require_lora_keys(lora, f"strip {branch}")
    parsed, _ = parsed_keys(lora)
    kept = {key: value for key, value in lora.tensors.items() if parsed[key].branch != branch}
    if not kept:
        raise TransformError(f"cannot strip {branch}: every key of the file is {branch}; nothing would be left")
    metadata = dict(lora.metadata)
    metadata[branch] = "false"
    stripped = [s for s in metadata.get("stripped", "").split(",") if s]
    metadata["stripped"] = ",".join(sorted({*stripped, branch}))
    config = adapter_config(metadata)
    if config:
        modules = sorted({parsed[key].module for key in kept})
        for pattern in ("rank_pattern", "alpha_pattern"):
            if isinstance(config.get(pattern), dict):
                config[pattern] = {m: v for m, v in config[pattern].items() if m in modules}
        metadata[ADAPTER_METADATA] = _packed({**config, "target_modules": modules})
    return LoraFile(kept, metadata)


def scale(lora: LoraFile, factor: float) -> LoraFile:
    """`lora` with its effect multiplied by `factor` (lora_B scaled; the delta B @ A is linear in B)."""
    _require_lora_keys(lora, "scale")
    parsed, _ = parsed_keys(lora)
    tensors = {key: value * factor if parsed[key].part == "B" else value for key, value in lora.tensors.items()}
    metadata = dict(lora.metadata)
    previous = float(metadata.get("strength", "1.0"))
    metadata["strength"] = repr(previous * float(factor))
    return LoraFile(tensors, metadata)


def _fold_scales(lora: LoraFile) -> dict[str, float]:
    """module -> the factor lora_B must take so that alpha == rank applies what `lora` applies."""
    parsed, _ = parsed_keys(lora)
    config = adapter_config(lora.metadata)
    ranks = {p.module: int(lora.tensors[k].shape[0]) for k, p in parsed.items() if p.part == "A"}
    scales = {}
    for module, rank in ranks.items():
        alpha = config.get("alpha_pattern", {}).get(module, config.get("lora_alpha"))
        rank_in_config = config.get("rank_pattern", {}).get(module, config.get("r", rank))
        scales[module] = float(alpha) / float(rank_in_config) if alpha is not None else 1.0
    for key, found in parsed.items():
        if found.part == "alpha":
            scales[found.module] = float(lora.tensors[key].item()) / float(ranks.get(found.module, 1))
    return scales


def _packed(config: dict[str, Any]) -> str:
    return json.dumps({f"transformer.{key}": value for key, value in config.items()}, indent=2, sort_keys=True)


def convert(lora: LoraFile, to: Layout) -> LoraFile:
    """`lora` in layout `to`, alpha folded into lora_B (see the module docstring)."""
    _require_lora_keys(lora, f"convert to {to}")
    parsed, _ = parsed_keys(lora)
    scales = _fold_scales(lora)
    tensors: dict[str, torch.Tensor] = {}
    for key, found in parsed.items():
        if found.part == "alpha":
            continue
        value = lora.tensors[key]
        factor = scales.get(found.module, 1.0)
        tensors[make_key(found.module, found.part, to)] = (
            value * factor if found.part == "B" and factor != 1.0 else value
        )
    metadata = {key: value for key, value in lora.metadata.items() if key != ADAPTER_METADATA}
    metadata["format"] = _FORMATS[to]
    metadata["alpha_folded_into_lora_B"] = "true"
    if to == "diffusers":
        ranks = {p.module: int(lora.tensors[k].shape[0]) for k, p in parsed.items() if p.part == "A"}
        rank = max(ranks.values())
        config: dict[str, Any] = {"r": rank, "lora_alpha": rank, "target_modules": sorted(ranks)}
        varied = {module: r for module, r in ranks.items() if r != rank}
        if varied:
            config["rank_pattern"] = varied
            config["alpha_pattern"] = varied
        metadata[ADAPTER_METADATA] = _packed(config)
    return LoraFile(tensors, metadata)
