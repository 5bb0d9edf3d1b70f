"""The `ltx2.3-tiny` preset: every LTX-2.3 component from its real class, tiny config, random weights.

It keeps the couplings of the real model (2.3 flags on the transformer and connectors, a 4-block video
VAE with 32x spatial / 8x temporal compression, 64-bin audio VAE, BWE vocoder at 48 kHz, a Gemma 3
text encoder) so every code path that real weights take runs on it. It is built once with a fixed seed,
saved with `save_pretrained` in the diffusers layout, and then loaded like any other model directory.
The component builders shared with the other versions' presets are in `tiny_parts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from train_svc.models import tiny_parts
from train_svc.models.tiny_parts import GEMMA_HIDDEN, GEMMA_LAYERS, MAX_SEQUENCE_LENGTH

PRESET_NAME = "ltx2.3-tiny"
# Bump when the recipe below changes, so stale cached copies are rebuilt.
PRESET_REVISION = "2"
SEED = 20231
# The transformer flags that make an LTX2VideoTransformer3DModel an LTX-2.3 one.
TRANSFORMER_FLAGS: dict[str, Any] = {
    "gated_attn": True,
    "cross_attn_mod": True,
    "audio_gated_attn": True,
    "audio_cross_attn_mod": True,
    "use_prompt_embeddings": False,
    "perturbed_attn": True,
    "rope_type": "split",
}
# Random audio<->video cross-attention gates are O(1), so noise audio would pour into the video stream at
# inference while a video-only run trains with the modalities isolated. Trained DiTs start these gates
# near zero (adaLN-zero); the preset scales them down likewise, keeping them non-zero so audio LoRAs get
# gradients through the cross-modal attentions.
CROSS_MODAL_GATE_SCALE = 0.02


def _text_encoder(vocab: dict[str, int]) -> Any:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": GEMMA_HIDDEN,
            "intermediate_size": 64,
            "num_hidden_layers": GEMMA_LAYERS,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "max_position_embeddings": 4 * MAX_SEQUENCE_LENGTH,
            "sliding_window": 64,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        mm_tokens_per_image=4,
        boi_token_index=vocab["<start_of_image>"],
        eoi_token_index=vocab["<end_of_image>"],
        image_token_index=vocab["<image>"],
    )
    return Gemma3ForConditionalGeneration(config).eval()


def _save(directory: Path) -> None:
    # From its own module: to a type checker, `diffusers.LTX2Pipeline` is the placeholder class diffusers
    # defines for when torch or transformers is missing (the same class at run time).
    from diffusers.pipelines.ltx2.pipeline_ltx2 import LTX2Pipeline

    parts = tiny_parts.components(SEED, _text_encoder, TRANSFORMER_FLAGS, CROSS_MODAL_GATE_SCALE)
    LTX2Pipeline(**parts).save_pretrained(directory)


def ensure_tiny_preset(cache_dir: Path | None = None) -> Path:
    """Return the directory of the tiny preset, building and saving it first if it is not cached."""
    return tiny_parts.ensure_built(PRESET_NAME, PRESET_REVISION, SEED, _save, cache_dir)
