"""Writing the LoRA in the original / ComfyUI key format that Lightricks' tools and ComfyUI read.

Keys are `diffusion_model.<module>.lora_A.weight` / `.lora_B.weight`. Loaders of this format assume
alpha == rank, so alpha/rank is folded into lora_B here: every loader then applies exactly what was
trained. A LoRA with a NaN or infinite value is never written. The header names the LTX version of the base
the LoRA was trained on (`ltx_version`), which GenerateVideo and `ltx-trainer lora check` compare with the
base they are offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from train_svc.lora_tools.version_fit import LTX_VERSION_KEY

PREFIX = "diffusion_model."


class NonFiniteLora(Exception):
    """The trained LoRA holds NaN or infinite values; shipping it would produce black videos."""


@dataclass(frozen=True)
class LoraMetadata:
    trigger_phrase: str
    rank: int
    alpha: float
    base_model: str
    steps: int
    training_type: str  # "t2v"
    audio: bool
    ltx_version: str = ""  # of the base it was trained on, "2.3" or "2.5"; "" names none (left out of the header)

    def as_header(self) -> dict[str, str]:
        version = {LTX_VERSION_KEY: self.ltx_version} if self.ltx_version else {}
        return {
            **version,
            "format": "ltx2-original",
            "trigger_phrase": self.trigger_phrase,
            "rank": str(self.rank),
            "alpha": repr(float(self.alpha)),
            "alpha_folded_into_lora_B": "true",
            "base_model": self.base_model,
            "steps": str(self.steps),
            "training_type": self.training_type,
            "audio": "true" if self.audio else "false",
        }


def to_original_format(state: dict[str, torch.Tensor], *, rank: int, alpha: float) -> dict[str, torch.Tensor]:
    scale = float(alpha) / float(rank)
    out = {}
    for key, value in state.items():
        if ".lora_A." not in key and ".lora_B." not in key:
            raise ValueError(f"unexpected key in LoRA state: {key}")
        out[PREFIX + key] = value * scale if ".lora_B." in key else value
    return out


def write_lora(
    path: Path,
    state: dict[str, torch.Tensor],
    metadata: LoraMetadata,
    dtype: torch.dtype = torch.float32,
) -> Path:
    bad = sorted(k for k, v in state.items() if not torch.isfinite(v).all())
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise NonFiniteLora(f"the trained LoRA has NaN or infinite values in {shown}; refusing to write it")
    tensors = {
        k: v.to(dtype).contiguous()
        for k, v in to_original_format(state, rank=metadata.rank, alpha=metadata.alpha).items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata.as_header())
    tmp.replace(path)
    return path
