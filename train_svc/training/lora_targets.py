"""Which transformer layers the LoRA adapts.

By suffix, to_q/to_k/to_v/to_out.0 hit all six attentions of an LTX-2 block. A video-only run adapts
only the video self- and text cross-attention (attn1, attn2); an audio run (a later capability) adds
the audio and cross-modal attentions. The feed-forward layers are optional: they give a small model
much more pull, and are off in the official recipe.
"""

from __future__ import annotations

import re

from torch import nn

PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")
VIDEO_ATTENTIONS = ("attn1", "attn2")
AUDIO_ATTENTIONS = ("audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn")
VIDEO_FEED_FORWARD = ("ff.net.0.proj", "ff.net.2")
AUDIO_FEED_FORWARD = ("audio_ff.net.0.proj", "audio_ff.net.2")


def target_module_names(transformer: nn.Module, *, audio: bool, feed_forward: bool) -> list[str]:
    """Full names of the Linear layers to adapt, in model order."""
    attentions = VIDEO_ATTENTIONS + (AUDIO_ATTENTIONS if audio else ())
    suffixes = [f"{attn}.{proj}" for attn in attentions for proj in PROJECTIONS]
    if feed_forward:
        suffixes += list(VIDEO_FEED_FORWARD) + (list(AUDIO_FEED_FORWARD) if audio else [])
    pattern = re.compile(r"^transformer_blocks\.\d+\.(" + "|".join(re.escape(s) for s in suffixes) + r")$")
    names = [name for name, module in transformer.named_modules() if pattern.match(name)]
    if not names or not all(isinstance(transformer.get_submodule(n), nn.Linear) for n in names):
        raise ValueError("the transformer does not have the LTX-2 attention layout expected for LoRA targets")
    return names
