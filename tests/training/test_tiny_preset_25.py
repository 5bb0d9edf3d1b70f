"""The `ltx2.5-tiny` preset: the real LTX-2.5 component classes and on-disk layout, loaded the ways diffusers
loads LTX-2.5 (`LTX2Pipeline` from `model_index.json`, `LTX25ModularPipeline` from `modular_model_index.json`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from train_svc.models.tiny_preset_25 import ensure_tiny_preset_25
from train_svc.models.versions import model_version

INDEXED_CLASSES = {
    "transformer": "LTX2VideoTransformer3DModel",
    "vae": "AutoencoderKLLTX2Video",
    "audio_vae": "AutoencoderKLLTX2Audio",
    "connectors": "LTX2TextConnectors",
    "vocoder": "LTX2VocoderWithBWE",
    "text_encoder": "Gemma4UnifiedForConditionalGeneration",
    "tokenizer": "GemmaTokenizer",
    "scheduler": "FlowMatchEulerDiscreteScheduler",
    "duration_head": "LTX2DurationHead",
}


def _component_classes() -> dict[str, type]:
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoDiffusionDecoderModel
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.duration_head import LTX2DurationHead
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE
    from transformers import Gemma4UnifiedForConditionalGeneration, GemmaTokenizer

    return {
        "transformer": LTX2VideoTransformer3DModel,
        "vae": AutoencoderKLLTX2Video,
        "audio_vae": AutoencoderKLLTX2Audio,
        "connectors": LTX2TextConnectors,
        "vocoder": LTX2VocoderWithBWE,
        "text_encoder": Gemma4UnifiedForConditionalGeneration,
        "tokenizer": GemmaTokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler,
        "duration_head": LTX2DurationHead,
        "diffusion_decoder": LTX2VideoDiffusionDecoderModel,
    }


@pytest.fixture(scope="module")
def pipe(tiny_model_25):
    from diffusers.pipelines.ltx2.pipeline_ltx2 import LTX2Pipeline

    pipeline = LTX2Pipeline.from_pretrained(tiny_model_25.path, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_preset_resolves_into_the_cache_as_an_ltx25_folder(tiny_model_25, offline_model_cache):
    assert tiny_model_25.is_preset
    assert tiny_model_25.path.is_relative_to(offline_model_cache)
    assert model_version(tiny_model_25.path) == "2.5"


def test_preset_has_both_diffusers_indexes_with_the_ltx25_classes(tiny_model_25):
    path = tiny_model_25.path
    index = json.loads((path / "model_index.json").read_text())
    assert index["_class_name"] == "LTX2Pipeline"
    for component, class_name in INDEXED_CLASSES.items():
        assert index[component][1] == class_name, component
    modular = json.loads((path / "modular_model_index.json").read_text())
    assert modular["_class_name"] == "LTX25ModularPipeline"
    assert modular["_blocks_class_name"] == "LTX25AutoBlocks"
    assert modular["diffusion_decoder"][1] == "LTX2VideoDiffusionDecoderModel"
    for component in [*INDEXED_CLASSES, "diffusion_decoder"]:
        assert any((path / component).iterdir()), f"component folder {component}/ is empty"


@pytest.mark.parametrize("component", [*INDEXED_CLASSES, "diffusion_decoder"])
def test_each_component_reloads_with_its_own_class(tiny_model_25, component):
    cls = _component_classes()[component]
    loaded = cls.from_pretrained(tiny_model_25.path / component, local_files_only=True)
    assert type(loaded) is cls


def test_transformer_has_the_ltx25_flags(pipe):
    transformer = pipe.transformer
    config = transformer.config
    assert config.ff_bias is False and config.use_prompt_adaln_single is False
    assert config.use_keyframes_abs_pos_embedding is True
    assert config.gated_attn and config.cross_attn_mod and config.perturbed_attn
    assert transformer.transformer_blocks[0].ff.net[2].bias is None, "2.5's video feed-forward has no bias"
    assert transformer.transformer_blocks[0].audio_ff.net[2].bias is not None
    assert transformer.keyframes_abs_pos_embedding.shape == (1, config.num_attention_heads * config.attention_head_dim)


def test_text_encoder_feeds_the_connectors(pipe):
    text_config = pipe.text_encoder.config.text_config
    assert pipe.transformer.config.caption_channels == text_config.hidden_size
    assert pipe.connectors.config.text_proj_in_factor == text_config.num_hidden_layers + 1


def test_modular_pipeline_routes_to_ltx25_and_loads_every_component(tiny_model_25):
    from diffusers import ModularPipeline

    modular = ModularPipeline.from_pretrained(str(tiny_model_25.path))
    assert type(modular).__name__ == "LTX25ModularPipeline"
    modular.load_components(dtype=torch.float32)
    for component, cls in _component_classes().items():
        assert isinstance(getattr(modular, component), cls), component


def test_short_generation_produces_frames_and_stereo_audio(pipe):
    """`LTX2Pipeline`, the way diffusers documents loading LTX-2.5, decoding with the convolutional VAE."""
    height, width, frames, fps = 64, 96, 9, 24.0
    out = pipe(
        prompt="a red square moving left",
        height=height,
        width=width,
        num_frames=frames,
        frame_rate=fps,
        num_inference_steps=2,
        spatio_temporal_guidance_blocks=[1],
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    )
    video = np.asarray(out.frames)
    assert video.shape == (1, frames, height, width, 3)
    assert np.isfinite(video).all() and video.std() > 0.0
    assert out.audio.shape[:2] == (1, 2) and torch.isfinite(out.audio).all()
    assert out.audio.shape[-1] / 48_000 == pytest.approx(frames / fps, abs=0.05)


def test_building_the_preset_twice_gives_identical_files(tiny_model_25, tmp_path):
    rebuilt = ensure_tiny_preset_25(tmp_path)
    first = {p.relative_to(tiny_model_25.path): p.read_bytes() for p in tiny_model_25.path.rglob("*") if p.is_file()}
    second = {p.relative_to(rebuilt): p.read_bytes() for p in rebuilt.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


@pytest.mark.integration
def test_modular_generation_decodes_with_the_diffusion_decoder(tiny_model_25):
    from diffusers import ModularPipeline

    modular = ModularPipeline.from_pretrained(str(tiny_model_25.path))
    modular.load_components(dtype=torch.float32)
    # The decoder's neighborhood attention needs latent grids at least its 3x3x3 kernel: 96x128 px -> 3x4.
    height, width, frames = 96, 128, 9
    out = modular(
        prompt="a red square moving left",
        height=height,
        width=width,
        num_frames=frames,
        frame_rate=24.0,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        output=["videos", "audio"],
    )
    video = np.asarray(out["videos"])
    assert video.shape == (1, frames, height, width, 3)
    assert np.isfinite(video).all() and video.std() > 0.0
    assert out["audio"].shape[:2] == (1, 2)
