"""Module names of the LTX-2.3 transformer in diffusers' layout and in the original checkpoint's.

Restated from diffusers' LTX-2 conversion (the original -> diffusers renames of its single-file and LoRA
loaders), in the diffusers -> original direction. None of these names is a LoRA target (the attention
projections and feed-forward layers of the blocks keep their names), which a test checks against the
installed diffusers' own conversion.
"""

from __future__ import annotations

# diffusers name fragment -> original fragment, applied to whole dot-separated segments
_TO_ORIGINAL = {
    "proj_in": "patchify_proj",
    "audio_proj_in": "audio_patchify_proj",
    "time_embed": "adaln_single",
    "audio_time_embed": "audio_adaln_single",
    "av_cross_attn_video_scale_shift": "av_ca_video_scale_shift_adaln_single",
    "av_cross_attn_video_a2v_gate": "av_ca_a2v_gate_adaln_single",
    "av_cross_attn_audio_scale_shift": "av_ca_audio_scale_shift_adaln_single",
    "av_cross_attn_audio_v2a_gate": "av_ca_v2a_gate_adaln_single",
    "video_a2v_cross_attn_scale_shift_table": "scale_shift_table_a2v_ca_video",
    "audio_a2v_cross_attn_scale_shift_table": "scale_shift_table_a2v_ca_audio",
    "norm_q": "q_norm",
    "norm_k": "k_norm",
    "prompt_adaln": "prompt_adaln_single",
    "audio_prompt_adaln": "audio_prompt_adaln_single",
}
_TO_DIFFUSERS = {original: diffusers for diffusers, original in _TO_ORIGINAL.items()}


def _renamed(name: str, table: dict[str, str]) -> str:
    return ".".join(table.get(segment, segment) for segment in name.split("."))


def original_name(module: str) -> str:
    """The original checkpoint's name of a diffusers module name (`proj_in` -> `patchify_proj`)."""
    return _renamed(module, _TO_ORIGINAL)


def diffusers_name(module: str) -> str:
    """diffusers' name of an original checkpoint module name (the inverse of original_name)."""
    return _renamed(module, _TO_DIFFUSERS)
