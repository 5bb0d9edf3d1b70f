"""What a LoRA file holds (`ltx-trainer lora inspect`): LTX version, metadata, rank, alpha, modules, branches,
NaN/Inf scan.

Rank is the first dimension of the lora_A weights (the metadata's `rank` is only shown as metadata); alpha is
the metadata's (`alpha`, or diffusers' `lora_adapter_metadata`), or None when the file does not say; the LTX
version is the metadata's `ltx_version` ("" when the file does not say).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from train_svc.lora_tools.keys import LoraKey, block_index, kind_of, parse_key
from train_svc.lora_tools.lora_io import LoraFile
from train_svc.lora_tools.version_fit import lora_version

ADAPTER_METADATA = "lora_adapter_metadata"  # diffusers' header key: its LoraConfig, prefixed by component


@dataclass(frozen=True)
class LoraSummary:
    ltx_version: str  # "" when the metadata does not name one
    metadata: dict[str, str]
    layouts: list[str]
    ranks: list[int]
    alpha: float | None
    modules: int
    audio_keys: int
    video_keys: int
    other_keys: list[str]
    kinds: dict[str, int]  # module name inside its block -> number of blocks (or 1 outside the blocks)
    blocks: list[int]
    parameters: int
    nonfinite: int  # NaN or infinite values
    nonfinite_keys: list[str]

    @property
    def rank(self) -> int | None:
        """The LoRA's rank (the largest when modules differ)."""
        return max(self.ranks) if self.ranks else None

    def as_json(self) -> dict[str, Any]:
        return {
            "ltx_version": self.ltx_version,
            "rank": self.rank,
            "ranks": self.ranks,
            "alpha": self.alpha,
            "layouts": self.layouts,
            "modules": self.modules,
            "audio_keys": self.audio_keys,
            "video_keys": self.video_keys,
            "other_keys": self.other_keys,
            "targets": self.kinds,
            "blocks": self.blocks,
            "parameters": self.parameters,
            "nonfinite": self.nonfinite,
            "nonfinite_keys": self.nonfinite_keys,
            "metadata": self.metadata,
        }


def adapter_config(metadata: dict[str, str]) -> dict[str, Any]:
    """diffusers' LoraConfig of the transformer from the header (empty when there is none)."""
    raw = metadata.get(ADAPTER_METADATA)
    if not raw:
        return {}
    try:
        packed = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    if not isinstance(packed, dict):
        return {}
    return {key.removeprefix("transformer."): value for key, value in packed.items() if key.startswith("transformer.")}


def declared_alpha(metadata: dict[str, str]) -> float | None:
    for value in (metadata.get("alpha"), adapter_config(metadata).get("lora_alpha")):
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            continue
    return None


def parsed_keys(lora: LoraFile) -> tuple[dict[str, LoraKey], list[str]]:
    """(file key -> parsed key for the LoRA keys, the other keys)."""
    parsed, other = {}, []
    for key in lora.tensors:
        found = parse_key(key)
        if found is None:
            other.append(key)
        else:
            parsed[key] = found
    return parsed, sorted(other)


def summarize(lora: LoraFile) -> LoraSummary:
    parsed, other = parsed_keys(lora)
    modules = {p.module for p in parsed.values()}
    ranks = sorted({int(lora.tensors[k].shape[0]) for k, p in parsed.items() if p.part == "A"})
    kinds = Counter(kind_of(module) for module in modules)
    nonfinite_counts = {
        key: int((~torch.isfinite(t)).sum()) for key, t in lora.tensors.items() if t.is_floating_point()
    }
    return LoraSummary(
        ltx_version=lora_version(lora.metadata),
        metadata=dict(sorted(lora.metadata.items())),
        layouts=sorted({p.layout for p in parsed.values()}),
        ranks=ranks,
        alpha=declared_alpha(lora.metadata),
        modules=len(modules),
        audio_keys=sum(1 for p in parsed.values() if p.branch == "audio"),
        video_keys=sum(1 for p in parsed.values() if p.branch == "video"),
        other_keys=other,
        kinds=dict(sorted(kinds.items())),
        blocks=sorted({i for i in (block_index(m) for m in modules) if i is not None}),
        parameters=sum(t.numel() for t in lora.tensors.values()),
        nonfinite=sum(nonfinite_counts.values()),
        nonfinite_keys=sorted(key for key, count in nonfinite_counts.items() if count),
    )


def render_summary(summary: LoraSummary, name: str) -> str:
    ranks = ", ".join(map(str, summary.ranks)) or "none"
    alpha = "not recorded" if summary.alpha is None else f"{summary.alpha:g}"
    blocks = f"{len(summary.blocks)} blocks ({summary.blocks[0]}-{summary.blocks[-1]})" if summary.blocks else "none"
    lines = [
        f"{name}",
        f"  LTX version  {summary.ltx_version or 'not recorded'}",
        f"  layout       {', '.join(summary.layouts) or 'no LoRA keys'}",
        f"  rank         {ranks}",
        f"  alpha        {alpha}",
        f"  parameters   {summary.parameters:,}",
        f"  modules      {summary.modules} in {blocks}",
        f"  keys         {summary.video_keys} video, {summary.audio_keys} audio, {len(summary.other_keys)} other",
        f"  NaN/Inf      {summary.nonfinite} values"
        + (f" in {', '.join(summary.nonfinite_keys)}" if summary.nonfinite else ""),
        "  targets (modules per block name):",
        *(f"    {kind:<32} {count}" for kind, count in summary.kinds.items()),
    ]
    if summary.other_keys:
        lines += ["  keys that are not LoRA weights:", *(f"    {key}" for key in summary.other_keys)]
    lines += [
        "  metadata:",
        *(f"    {key}: {value}" for key, value in summary.metadata.items() if key != ADAPTER_METADATA),
    ]
    if ADAPTER_METADATA in summary.metadata:
        lines.append(f"    {ADAPTER_METADATA}: (diffusers LoraConfig) {json.dumps(adapter_config(summary.metadata))}")
    return "\n".join(lines)
