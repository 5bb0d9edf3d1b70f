"""The `ltx2.3-tiny` preset: every LTX-2.3 component from its real class, tiny config, random weights.

It keeps the couplings of the real model (2.3 flags on the transformer and connectors, a 4-block video
VAE with 32x spatial / 8x temporal compression, 64-bin audio VAE, BWE vocoder at 48 kHz, a Gemma 3
text encoder) so every code path that real weights take runs on it. It is built once with a fixed seed,
saved with `save_pretrained` in the diffusers layout, and then loaded like any other model directory.
"""

from __future__ import annotations

import json
import os
import shutil
import string
from pathlib import Path

import structlog
import torch

log = structlog.get_logger(__name__)

PRESET_NAME = "ltx2.3-tiny"
# Bump when the recipe below changes, so stale cached copies are rebuilt.
PRESET_REVISION = "2"
SEED = 20231
MAX_SEQUENCE_LENGTH = 1024  # as the real Gemma 3 prompt length, so pipeline defaults match training
_GEMMA_HIDDEN = 32
_GEMMA_LAYERS = 2
_LATENT_CHANNELS = 32
_AUDIO_LATENT_CHANNELS = 2
_MEL_BINS = 64
# Random audio<->video cross-attention gates are O(1), so noise audio would pour into the video stream at
# inference while a video-only run trains with the modalities isolated. Trained DiTs start these gates
# near zero (adaLN-zero); the preset scales them down likewise, keeping them non-zero so audio LoRAs get
# gradients through the cross-modal attentions.
CROSS_MODAL_GATE_SCALE = 0.02


def _tokenizer():
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_image>", "<end_of_image>", "<image>"]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for ch in ["▁", *string.ascii_letters, *string.digits, *string.punctuation]:
        vocab.setdefault(ch, len(vocab))
    tok = GemmaTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = MAX_SEQUENCE_LENGTH
    tok.padding_side = "left"
    return tok, vocab


def _text_encoder(vocab: dict[str, int]):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": _GEMMA_HIDDEN,
            "intermediate_size": 64,
            "num_hidden_layers": _GEMMA_LAYERS,
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


def _damp_cross_modal_gates(transformer, scale: float) -> None:
    with torch.no_grad():
        for block in transformer.transformer_blocks:
            block.video_a2v_cross_attn_scale_shift_table[4:].mul_(scale)
            block.audio_a2v_cross_attn_scale_shift_table[4:].mul_(scale)
        for gate in (transformer.av_cross_attn_video_a2v_gate, transformer.av_cross_attn_audio_v2a_gate):
            gate.linear.weight.mul_(scale)
            gate.linear.bias.mul_(scale)


def _components() -> dict:
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE

    torch.manual_seed(SEED)
    tokenizer, vocab = _tokenizer()
    text_encoder = _text_encoder(vocab)
    video_heads, video_head_dim = 4, 32
    audio_heads, audio_head_dim = 4, 16
    audio_base_channels = _AUDIO_LATENT_CHANNELS * _MEL_BINS // 4

    transformer = LTX2VideoTransformer3DModel(
        in_channels=_LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        num_attention_heads=video_heads,
        attention_head_dim=video_head_dim,
        cross_attention_dim=video_heads * video_head_dim,
        audio_in_channels=audio_base_channels,
        audio_out_channels=audio_base_channels,
        audio_num_attention_heads=audio_heads,
        audio_attention_head_dim=audio_head_dim,
        audio_cross_attention_dim=audio_heads * audio_head_dim,
        num_layers=2,
        caption_channels=_GEMMA_HIDDEN,
        gated_attn=True,
        cross_attn_mod=True,
        audio_gated_attn=True,
        audio_cross_attn_mod=True,
        use_prompt_embeddings=False,
        perturbed_attn=True,
        rope_type="split",
    )
    _damp_cross_modal_gates(transformer, CROSS_MODAL_GATE_SCALE)
    connectors = LTX2TextConnectors(
        caption_channels=_GEMMA_HIDDEN,
        text_proj_in_factor=_GEMMA_LAYERS + 1,
        video_connector_num_attention_heads=video_heads,
        video_connector_attention_head_dim=video_head_dim,
        video_connector_num_layers=2,
        video_connector_num_learnable_registers=16,
        video_gated_attn=True,
        audio_connector_num_attention_heads=audio_heads,
        audio_connector_attention_head_dim=audio_head_dim,
        audio_connector_num_layers=2,
        audio_connector_num_learnable_registers=16,
        audio_gated_attn=True,
        connector_rope_base_seq_len=MAX_SEQUENCE_LENGTH,
        rope_type="split",
        per_modality_projections=True,
        video_hidden_dim=video_heads * video_head_dim,
        audio_hidden_dim=audio_heads * audio_head_dim,
        proj_bias=True,
    )
    vae = AutoencoderKLLTX2Video(
        latent_channels=_LATENT_CHANNELS,
        block_out_channels=(8, 16, 16, 16),
        decoder_block_out_channels=(8, 16, 16, 16),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True, True),
        decoder_inject_noise=(False, False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
        upsample_residual=(False, False, False, False),
        upsample_factor=(2, 2, 1, 2),
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        encoder_spatial_padding_mode="zeros",
        decoder_spatial_padding_mode="zeros",
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=audio_base_channels,
        ch_mult=(1, 2, 4),
        num_res_blocks=1,
        latent_channels=_AUDIO_LATENT_CHANNELS,
        mel_bins=_MEL_BINS,
    )
    vocoder = LTX2VocoderWithBWE(
        in_channels=2 * _MEL_BINS,
        hidden_channels=64,
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3]],
        bwe_in_channels=2 * _MEL_BINS,
        bwe_hidden_channels=32,
        bwe_resnet_kernel_sizes=[3],
        bwe_resnet_dilations=[[1, 3]],
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )
    return {
        "scheduler": scheduler,
        "vae": vae,
        "audio_vae": audio_vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "connectors": connectors,
        "transformer": transformer,
        "vocoder": vocoder,
    }


def default_cache_dir() -> Path:
    root = os.environ.get("LTX_TRAINER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ltx-trainer"
    )
    return Path(root) / "models"


def ensure_tiny_preset(cache_dir: Path | None = None) -> Path:
    """Return the directory of the tiny preset, building and saving it first if it is not cached."""
    # From its own module: to a type checker, `diffusers.LTX2Pipeline` is the placeholder class diffusers
    # defines for when torch or transformers is missing (the same class at run time).
    from diffusers.pipelines.ltx2.pipeline_ltx2 import LTX2Pipeline

    target = (cache_dir or default_cache_dir()) / f"{PRESET_NAME}-r{PRESET_REVISION}"
    marker = target / "ltx_trainer_preset.json"
    if marker.exists():
        return target
    log.info("building tiny preset", path=str(target))
    staging = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    pipe = LTX2Pipeline(**_components())
    pipe.save_pretrained(staging)
    (staging / "ltx_trainer_preset.json").write_text(
        json.dumps({"preset": PRESET_NAME, "revision": PRESET_REVISION, "seed": SEED}) + "\n"
    )
    try:
        staging.rename(target)
    except OSError:
        # Another process finished first; its copy is identical (same seed and recipe).
        shutil.rmtree(staging, ignore_errors=True)
        if not marker.exists():
            raise
    return target
