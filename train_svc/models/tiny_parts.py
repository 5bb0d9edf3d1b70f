"""What the tiny presets of every LTX version share: the tiny component builders and the on-disk cache.

Each version's preset (`tiny_preset` for 2.3, `tiny_preset_25` for 2.5) picks its text encoder and its
transformer flags and builds the rest from here. The sizes keep the couplings of the real models: audio VAE
`base_channels == latent_channels * mel_bins // 4` (the transformer's audio in/out channels), connector
inner dims equal to the transformer's cross-attention dims, `caption_channels` equal to the Gemma hidden
size and `text_proj_in_factor` to its layer count + 1, vocoder input `2 * mel_bins`.
"""

from __future__ import annotations

import json
import os
import shutil
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog
import torch

log = structlog.get_logger(__name__)

MAX_SEQUENCE_LENGTH = 1024  # as the real Gemma prompt length, so pipeline defaults match training
GEMMA_HIDDEN = 32
GEMMA_LAYERS = 2
LATENT_CHANNELS = 32
AUDIO_LATENT_CHANNELS = 2
MEL_BINS = 64
VIDEO_HEADS, VIDEO_HEAD_DIM = 4, 32
AUDIO_HEADS, AUDIO_HEAD_DIM = 4, 16
VIDEO_INNER_DIM = VIDEO_HEADS * VIDEO_HEAD_DIM
AUDIO_INNER_DIM = AUDIO_HEADS * AUDIO_HEAD_DIM
AUDIO_BASE_CHANNELS = AUDIO_LATENT_CHANNELS * MEL_BINS // 4
GEMMA_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_image>", "<end_of_image>", "<image>")
MARKER_FILE = "ltx_trainer_preset.json"


def tokenizer(extra_specials: Sequence[str] = ()) -> tuple[Any, dict[str, int]]:
    """An in-memory Gemma BPE tokenizer over bytes and ASCII, with the Gemma special tokens first."""
    from transformers import GemmaTokenizer

    vocab = {tok: i for i, tok in enumerate((*GEMMA_SPECIALS, *extra_specials))}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for ch in ["▁", *string.ascii_letters, *string.digits, *string.punctuation]:
        vocab.setdefault(ch, len(vocab))
    tok = GemmaTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = MAX_SEQUENCE_LENGTH
    tok.padding_side = "left"
    return tok, vocab


def transformer(**version_flags: Any) -> Any:
    """The tiny DiT with the architecture flags of one LTX version."""
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel(
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        num_attention_heads=VIDEO_HEADS,
        attention_head_dim=VIDEO_HEAD_DIM,
        cross_attention_dim=VIDEO_INNER_DIM,
        audio_in_channels=AUDIO_BASE_CHANNELS,
        audio_out_channels=AUDIO_BASE_CHANNELS,
        audio_num_attention_heads=AUDIO_HEADS,
        audio_attention_head_dim=AUDIO_HEAD_DIM,
        audio_cross_attention_dim=AUDIO_INNER_DIM,
        num_layers=2,
        caption_channels=GEMMA_HIDDEN,
        **version_flags,
    )


def damp_cross_modal_gates(transformer: Any, scale: float) -> None:
    """Scale the audio<->video cross-attention gates down, as a trained DiT's start near zero (adaLN-zero)."""
    with torch.no_grad():
        for block in transformer.transformer_blocks:
            block.video_a2v_cross_attn_scale_shift_table[4:].mul_(scale)
            block.audio_a2v_cross_attn_scale_shift_table[4:].mul_(scale)
        for gate in (transformer.av_cross_attn_video_a2v_gate, transformer.av_cross_attn_audio_v2a_gate):
            gate.linear.weight.mul_(scale)
            gate.linear.bias.mul_(scale)


def connectors() -> Any:
    """Gated, per-modality text connectors (the 2.3 design, which 2.5 keeps)."""
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    return LTX2TextConnectors(
        caption_channels=GEMMA_HIDDEN,
        text_proj_in_factor=GEMMA_LAYERS + 1,
        video_connector_num_attention_heads=VIDEO_HEADS,
        video_connector_attention_head_dim=VIDEO_HEAD_DIM,
        video_connector_num_layers=2,
        video_connector_num_learnable_registers=16,
        video_gated_attn=True,
        audio_connector_num_attention_heads=AUDIO_HEADS,
        audio_connector_attention_head_dim=AUDIO_HEAD_DIM,
        audio_connector_num_layers=2,
        audio_connector_num_learnable_registers=16,
        audio_gated_attn=True,
        connector_rope_base_seq_len=MAX_SEQUENCE_LENGTH,
        rope_type="split",
        per_modality_projections=True,
        video_hidden_dim=VIDEO_INNER_DIM,
        audio_hidden_dim=AUDIO_INNER_DIM,
        proj_bias=True,
    )


def video_vae() -> Any:
    """A 4-block video VAE with 32x spatial and 8x temporal compression."""
    from diffusers import AutoencoderKLLTX2Video

    return AutoencoderKLLTX2Video(
        latent_channels=LATENT_CHANNELS,
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


def audio_vae() -> Any:
    from diffusers import AutoencoderKLLTX2Audio

    return AutoencoderKLLTX2Audio(
        base_channels=AUDIO_BASE_CHANNELS,
        ch_mult=(1, 2, 4),
        num_res_blocks=1,
        latent_channels=AUDIO_LATENT_CHANNELS,
        mel_bins=MEL_BINS,
    )


def vocoder() -> Any:
    """The 48 kHz bandwidth-extension vocoder."""
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE

    return LTX2VocoderWithBWE(
        in_channels=2 * MEL_BINS,
        hidden_channels=64,
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3]],
        bwe_in_channels=2 * MEL_BINS,
        bwe_hidden_channels=32,
        bwe_resnet_kernel_sizes=[3],
        bwe_resnet_dilations=[[1, 3]],
    )


def scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )


def components(
    seed: int,
    text_encoder: Callable[[dict[str, int]], Any],
    transformer_flags: dict[str, Any],
    gate_scale: float,
    extra_specials: Sequence[str] = (),
) -> dict[str, Any]:
    """The components every version's preset has, drawn from `seed` in a fixed order (the order fixes which
    random numbers each one gets: keep it); `text_encoder` builds the version's encoder for the vocabulary."""
    torch.manual_seed(seed)
    tokens, vocab = tokenizer(extra_specials)
    encoder = text_encoder(vocab)
    model = transformer(**transformer_flags)
    damp_cross_modal_gates(model, gate_scale)
    parts = {"connectors": connectors(), "vae": video_vae(), "audio_vae": audio_vae(), "vocoder": vocoder()}
    return {"scheduler": scheduler(), **parts, "text_encoder": encoder, "tokenizer": tokens, "transformer": model}


def default_cache_dir() -> Path:
    root = os.environ.get("LTX_TRAINER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ltx-trainer"
    )
    return Path(root) / "models"


def ensure_built(
    name: str, revision: str, seed: int, save: Callable[[Path], None], cache_dir: Path | None = None
) -> Path:
    """Return the cached directory of preset `name`, calling `save(staging_dir)` first if it is not cached.

    The build happens in a private staging directory renamed into place, so concurrent builders never
    see a half-written preset; the marker file is written last.
    """
    target = (cache_dir or default_cache_dir()) / f"{name}-r{revision}"
    marker = target / MARKER_FILE
    if marker.exists():
        return target
    log.info("building tiny preset", preset=name, path=str(target))
    staging = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    save(staging)
    (staging / MARKER_FILE).write_text(json.dumps({"preset": name, "revision": revision, "seed": seed}) + "\n")
    try:
        staging.rename(target)
    except OSError:
        # Another process finished first; its copy is identical (same seed and recipe).
        shutil.rmtree(staging, ignore_errors=True)
        if not marker.exists():
            raise
    return target
