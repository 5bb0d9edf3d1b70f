"""The one place where LoRA file keys are parsed: layout, module, part, and the audio / video branch.

Two layouts load with `LTX2Pipeline.load_lora_weights`: the original / ComfyUI one
(`diffusion_model.<module>.lora_A.weight`) and diffusers' (`transformer.<module>.lora_A.weight`). Module names
here are always diffusers' (the transformer's `named_modules()`); an original-layout name is translated with
the conversion table (`layouts.py`), which renames no LoRA target.

Branch rule: a module belongs to the audio branch when its output is added to the audio stream: inside a block
`audio_attn1`, `audio_attn2`, `audio_ff` and `video_to_audio_attn` (audio queries video; the result goes into
the audio stream); `audio_to_video_attn` writes into the video stream and so is video, like `attn1`, `attn2`
and `ff`. Outside the blocks, the modules named for audio (`audio_proj_in`, `audio_time_embed`,
`av_cross_attn_audio_*`, ...) are audio and the rest video. Every LoRA module is in exactly one branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from train_svc.lora_tools.layouts import diffusers_name, original_name

Layout = Literal["comfyui", "diffusers"]
Part = Literal["A", "B", "alpha"]
Branch = Literal["audio", "video"]

PREFIXES: dict[Layout, str] = {"comfyui": "diffusion_model.", "diffusers": "transformer."}
_SUFFIXES: dict[str, Part] = {".lora_A.weight": "A", ".lora_B.weight": "B", ".alpha": "alpha"}
_BLOCK = re.compile(r"^transformer_blocks\.(?P<index>\d+)\.(?P<inner>.+)$")
_AUDIO_IN_BLOCK = ("audio_attn1.", "audio_attn2.", "audio_ff.", "video_to_audio_attn.")
_AUDIO_OUTSIDE = ("audio_", "av_cross_attn_audio_")


@dataclass(frozen=True)
class LoraKey:
    module: str  # diffusers module name, e.g. transformer_blocks.0.attn1.to_q
    part: Part
    layout: Layout

    @property
    def branch(self) -> Branch:
        return branch_of(self.module)


def parse_key(key: str) -> LoraKey | None:
    """The parsed key, or None when it is not a LoRA A / B weight (or kohya alpha) of the transformer."""
    layout = next((name for name, prefix in PREFIXES.items() if key.startswith(prefix)), None)
    suffix = next((s for s in _SUFFIXES if key.endswith(s)), None)
    if layout is None or suffix is None:
        return None
    module = key[len(PREFIXES[layout]) : -len(suffix)]
    if not module:
        return None
    if layout == "comfyui":
        module = diffusers_name(module)
    return LoraKey(module, _SUFFIXES[suffix], layout)


def make_key(module: str, part: Part, layout: Layout) -> str:
    """The file key of `module`'s `part` in `layout` (the inverse of parse_key)."""
    name = original_name(module) if layout == "comfyui" else module
    suffix = next(s for s, p in _SUFFIXES.items() if p == part)
    return PREFIXES[layout] + name + suffix


def block_index(module: str) -> int | None:
    match = _BLOCK.match(module)
    return int(match["index"]) if match else None


def branch_of(module: str) -> Branch:
    match = _BLOCK.match(module)
    if match:
        return "audio" if match["inner"].startswith(_AUDIO_IN_BLOCK) else "video"
    return "audio" if module.startswith(_AUDIO_OUTSIDE) else "video"


def kind_of(module: str) -> str:
    """The module's name inside its block (`attn1.to_q`), or its full name outside the blocks."""
    match = _BLOCK.match(module)
    return match["inner"] if match else module
