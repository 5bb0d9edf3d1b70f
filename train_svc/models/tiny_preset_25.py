"""The `ltx2.5-tiny` preset: every LTX-2.5 component from its real class, tiny config, random weights.

LTX-2.5 keeps LTX-2.3's video and audio VAEs, per-modality connectors and 48 kHz BWE vocoder, and changes:
- the text encoder: Gemma 4 (`Gemma4UnifiedForConditionalGeneration`) instead of Gemma 3;
- the transformer flags: `ff_bias=False` (no bias in the video feed-forward), `use_prompt_adaln_single=False`
  (a fixed per-layer prompt modulation table instead of a timestep-dependent one), and
  `use_keyframes_abs_pos_embedding=True`;
- two new components: `duration_head` (`LTX2DurationHead`, predicts the clip length from the prompt; listed
  in `model_index.json`) and `diffusion_decoder` (`LTX2VideoDiffusionDecoderModel`, a diffusion model that
  decodes latents to pixels; a folder named only in `modular_model_index.json`).

The folder holds both indexes, as the diffusers-format LTX-2.5 does: `model_index.json` loads with
`LTX2Pipeline.from_pretrained` (which decodes with the convolutional VAE) and `modular_model_index.json`
routes `ModularPipeline.from_pretrained` to `LTX25ModularPipeline` (which decodes with the diffusion decoder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from train_svc.models import tiny_parts
from train_svc.models.tiny_parts import GEMMA_HIDDEN, GEMMA_LAYERS, MAX_SEQUENCE_LENGTH
from train_svc.models.tiny_preset import CROSS_MODAL_GATE_SCALE
from train_svc.models.tiny_preset import TRANSFORMER_FLAGS as TRANSFORMER_FLAGS_23
from train_svc.models.version_profiles import LTX_25

PRESET_NAME = "ltx2.5-tiny"
# Bump when the recipe below changes, so stale cached copies are rebuilt.
PRESET_REVISION = "2"
SEED = 20251
# The 2.3 preset's flags (its audio ones too) with the LTX-2.5 profile's over them.
TRANSFORMER_FLAGS: dict[str, Any] = {**TRANSFORMER_FLAGS_23, **LTX_25.transformer_flags}
# Gemma 4's multimodal placeholders, after the Gemma specials the 2.3 tokenizer has.
_GEMMA4_SPECIALS = ("<|video|>", "<start_of_audio>", "<end_of_audio>", "<audio_soft_token>")
MODULAR_PIPELINE = "LTX25ModularPipeline"
MODULAR_BLOCKS = "LTX25AutoBlocks"
DIFFUSION_DECODER = ("diffusers", "LTX2VideoDiffusionDecoderModel")


def _text_encoder(vocab: dict[str, int]) -> Any:
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration

    config = Gemma4UnifiedConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": GEMMA_HIDDEN,
            "intermediate_size": 64,
            "num_hidden_layers": GEMMA_LAYERS,
            "layer_types": ["sliding_attention"] * (GEMMA_LAYERS - 1) + ["full_attention"],
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "global_head_dim": 16,
            "max_position_embeddings": 4 * MAX_SEQUENCE_LENGTH,
            "sliding_window": 64,
            "pad_token_id": vocab["<pad>"],
            "eos_token_id": vocab["<eos>"],
            "bos_token_id": vocab["<bos>"],
        },
        vision_config={
            "patch_size": 4,
            "pooling_kernel_size": 2,
            "mm_embed_dim": GEMMA_HIDDEN,
            "mm_posemb_size": 16,
            "output_proj_dims": GEMMA_HIDDEN,
        },
        boi_token_id=vocab["<start_of_image>"],
        eoi_token_id=vocab["<end_of_image>"],
        image_token_id=vocab["<image>"],
        video_token_id=vocab["<|video|>"],
        boa_token_id=vocab["<start_of_audio>"],
        eoa_token_index=vocab["<end_of_audio>"],
        audio_token_id=vocab["<audio_soft_token>"],
    )
    return Gemma4UnifiedForConditionalGeneration(config).eval()


def _duration_head() -> Any:
    from diffusers.pipelines.ltx2.duration_head import LTX2DurationHead

    return LTX2DurationHead(
        video_cross_attention_dim=tiny_parts.VIDEO_INNER_DIM,
        audio_cross_attention_dim=tiny_parts.AUDIO_INNER_DIM,
        pooler_hidden_dim=16,
        num_pooler_heads=2,
        mlp_hidden_dim=16,
    )


def _diffusion_decoder() -> Any:
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoDiffusionDecoderModel

    # Stage widths halve as the default upsample channel reductions (2, 2, 1, 2) require. The first two
    # stages attend over single positions: their neighbourhoods must fit the latent grid, which is 2x2 for
    # the tests' 64-pixel videos (the real decoder's (3, 7, 7) windows need 224 pixels; the API's smallest
    # size is 288).
    return LTX2VideoDiffusionDecoderModel(
        latent_channels=tiny_parts.LATENT_CHANNELS,
        decoder_head_dim=8,
        decoder_stage_channels=(64, 32, 16, 16, 8),
        decoder_stage_depths=(1, 1, 1, 1, 1),
        decoder_stage_kernels=((1, 1, 1), (1, 1, 1), (3, 3, 3), (3, 3, 3)),
        decoder_stage5_kernel=(3, 3, 3),
        decoder_t_emb_dim=16,
    )


def _modular_index(model_index: dict[str, Any]) -> dict[str, Any]:
    """The `modular_model_index.json` diffusers reads to route a folder to the LTX-2.5 modular pipeline.

    Each component's load spec names its subfolder; no repository, since diffusers loads a component whose
    files are in the folder from the folder itself.
    """
    parts = {name: spec for name, spec in model_index.items() if not name.startswith("_") and spec[0] is not None}
    parts["diffusion_decoder"] = list(DIFFUSION_DECODER)
    index: dict[str, Any] = {
        "_blocks_class_name": MODULAR_BLOCKS,
        "_class_name": MODULAR_PIPELINE,
        "_diffusers_version": model_index["_diffusers_version"],
    }
    for name, (library, class_name) in sorted(parts.items()):
        spec = {"pretrained_model_name_or_path": None, "revision": None, "subfolder": name, "variant": None}
        index[name] = [library, class_name, {**spec, "type_hint": [library, class_name]}]
    return index


def _save(directory: Path) -> None:
    from diffusers.pipelines.ltx2.pipeline_ltx2 import LTX2Pipeline

    parts = tiny_parts.components(SEED, _text_encoder, TRANSFORMER_FLAGS, CROSS_MODAL_GATE_SCALE, _GEMMA4_SPECIALS)
    LTX2Pipeline(**parts, duration_head=_duration_head()).save_pretrained(directory)
    _diffusion_decoder().save_pretrained(directory / "diffusion_decoder")
    model_index = json.loads((directory / "model_index.json").read_text())
    (directory / "modular_model_index.json").write_text(json.dumps(_modular_index(model_index), indent=2) + "\n")


def ensure_tiny_preset_25(cache_dir: Path | None = None) -> Path:
    """Return the directory of the `ltx2.5-tiny` preset, building and saving it first if it is not cached."""
    return tiny_parts.ensure_built(PRESET_NAME, PRESET_REVISION, SEED, _save, cache_dir)
