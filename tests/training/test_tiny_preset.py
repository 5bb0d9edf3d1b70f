"""The `ltx2.3-tiny` preset and base-model resolution.

The preset must load through exactly the code path real LTX-2.3 weights take (a diffusers directory read
by `LTX2Pipeline.from_pretrained`), carry the 2.3 architecture flags, be reproducible, and generate.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from train_svc.models.base_model import BaseModelNotFound, resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME, ensure_tiny_preset
from train_svc.training.lora_model import load_transformer

COMPONENT_FOLDERS = (
    "transformer",
    "vae",
    "text_encoder",
    "tokenizer",
    "connectors",
    "audio_vae",
    "vocoder",
    "scheduler",
)
EXPECTED_CLASSES = {
    "transformer": "LTX2VideoTransformer3DModel",
    "vae": "AutoencoderKLLTX2Video",
    "audio_vae": "AutoencoderKLLTX2Audio",
    "connectors": "LTX2TextConnectors",
    "vocoder": "LTX2VocoderWithBWE",
    "text_encoder": "Gemma3ForConditionalGeneration",
    "tokenizer": "GemmaTokenizer",
    "scheduler": "FlowMatchEulerDiscreteScheduler",
}


@pytest.fixture(scope="module")
def pipe(tiny_model):
    from diffusers import LTX2Pipeline

    pipeline = LTX2Pipeline.from_pretrained(tiny_model.path, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    tensors = {}
    for file in sorted(model_dir.rglob("*.safetensors")):
        for key, value in load_file(file).items():
            tensors[f"{file.relative_to(model_dir)}:{key}"] = value
    return tensors


# --- the preset on disk -------------------------------------------------------------------------------


def test_preset_is_built_into_the_configured_cache_dir(tiny_model, offline_model_cache):
    assert tiny_model.is_preset
    assert tiny_model.path.is_relative_to(offline_model_cache)


def test_preset_is_saved_in_the_diffusers_pipeline_layout(tiny_model):
    path = tiny_model.path
    index = json.loads((path / "model_index.json").read_text())
    assert index["_class_name"] == "LTX2Pipeline"
    for folder in COMPONENT_FOLDERS:
        assert (path / folder).is_dir(), f"missing component folder {folder}/"
        assert any((path / folder).iterdir()), f"component folder {folder}/ is empty"
    for component, class_name in EXPECTED_CLASSES.items():
        assert index[component][1] == class_name, component


def test_preset_reloads_as_ltx2_pipeline_with_real_component_classes(pipe):
    from diffusers import LTX2Pipeline

    assert isinstance(pipe, LTX2Pipeline)
    for component, class_name in EXPECTED_CLASSES.items():
        assert type(getattr(pipe, component)).__name__ == class_name, component


def test_transformer_has_the_ltx23_flags(pipe):
    config = pipe.transformer.config
    assert config.gated_attn and config.audio_gated_attn
    assert config.cross_attn_mod and config.audio_cross_attn_mod
    assert config.perturbed_attn, "STG needs perturbed attention"
    assert config.use_prompt_embeddings is False
    assert config.rope_type == "split"


def test_connectors_project_per_modality(pipe):
    config = pipe.connectors.config
    assert config.per_modality_projections
    assert config.video_gated_attn and config.audio_gated_attn
    assert config.video_hidden_dim == pipe.transformer.config.cross_attention_dim
    assert config.audio_hidden_dim == pipe.transformer.config.audio_cross_attention_dim


def test_vocoder_is_the_48khz_bandwidth_extension_vocoder(pipe):
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE

    assert isinstance(pipe.vocoder, LTX2VocoderWithBWE)
    assert pipe.vocoder.config.output_sampling_rate == 48_000
    assert pipe.vocoder.config.in_channels == 2 * pipe.audio_vae.config.mel_bins


def test_video_vae_compresses_32x_spatially_and_8x_temporally(pipe):
    vae = pipe.vae
    assert vae.spatial_compression_ratio == 32
    assert vae.temporal_compression_ratio == 8
    pixels = torch.zeros(1, 3, 17, 64, 96)
    with torch.no_grad():
        latents = vae.encode(pixels).latent_dist.mode()
    assert latents.shape == (1, vae.config.latent_channels, 3, 2, 3)


def test_building_the_preset_twice_gives_identical_weights(tiny_model, tmp_path):
    rebuilt = ensure_tiny_preset(tmp_path)
    assert rebuilt != tiny_model.path
    first, second = _weights(tiny_model.path), _weights(rebuilt)
    assert first.keys() == second.keys()
    assert len(first) > 100
    different = [key for key in first if not torch.equal(first[key], second[key])]
    assert not different, f"weights differ between builds: {different[:5]}"
    assert (tiny_model.path / "tokenizer" / "tokenizer.json").read_bytes() == (
        rebuilt / "tokenizer" / "tokenizer.json"
    ).read_bytes()


def test_cached_preset_is_reused_without_rebuilding(tiny_model):
    marker = tiny_model.path / "ltx_trainer_preset.json"
    stamp = marker.stat().st_mtime_ns
    again = resolve_base_model(PRESET_NAME)
    assert again.path == tiny_model.path
    assert marker.stat().st_mtime_ns == stamp
    assert not list(tiny_model.path.parent.glob(".*building*")), "staging directory left behind"


def test_short_generation_produces_frames_and_48khz_audio(pipe):
    height, width, frames, fps = 64, 96, 17, 24.0
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
    assert np.isfinite(video).all()
    assert video.min() >= 0.0 and video.max() <= 1.0
    assert video.std() > 0.0, "decoded frames are constant"

    audio = out.audio
    assert audio.ndim == 3 and audio.shape[:2] == (1, 2), "expected a stereo waveform [B, 2, samples]"
    assert torch.isfinite(audio).all()
    seconds_at_48k = audio.shape[-1] / 48_000
    # The clip lasts frames / fps seconds; at 24 kHz the same sample count would read as half as long.
    assert seconds_at_48k == pytest.approx(frames / fps, abs=0.05)


# --- resolve_base_model --------------------------------------------------------------------------------


def test_existing_diffusers_directory_resolves_to_itself_and_loads(tiny_model, placement):
    resolved = resolve_base_model(str(tiny_model.path))
    assert resolved.path == tiny_model.path.resolve()
    assert not resolved.is_preset
    transformer = load_transformer(resolved.path, placement)
    assert type(transformer).__name__ == "LTX2VideoTransformer3DModel"


@pytest.mark.parametrize("missing", ["/nonexistent/ltx-2.3-model", "./no-such-model-dir", "~/no-such-model-dir"])
def test_missing_path_is_reported_with_the_tiny_preset_hint(missing):
    with pytest.raises(BaseModelNotFound) as info:
        resolve_base_model(missing)
    message = str(info.value)
    assert missing in message
    assert f"--base-model {PRESET_NAME}" in message


@pytest.mark.parametrize("allow_download", [None, "1"])
def test_uncached_hub_id_fails_fast_when_offline(monkeypatch, allow_download):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if allow_download:
        monkeypatch.setenv("LTX_TRAINER_ALLOW_DOWNLOAD", allow_download)
    repo_id = f"ltx-trainer-tests/not-cached-{uuid.uuid4().hex}"
    started = time.perf_counter()
    with pytest.raises(BaseModelNotFound) as info:
        resolve_base_model(repo_id)
    assert time.perf_counter() - started < 10.0
    message = str(info.value)
    assert repo_id in message
    assert f"--base-model {PRESET_NAME}" in message


def test_directory_without_model_index_is_not_a_pipeline(tmp_path):
    (tmp_path / "transformer").mkdir()
    with pytest.raises(BaseModelNotFound, match="model_index.json"):
        resolve_base_model(str(tmp_path))


def test_single_file_checkpoint_is_not_a_pipeline(tmp_path):
    checkpoint = tmp_path / "ltx-2.3-22b-dev.safetensors"
    checkpoint.write_bytes(b"\0" * 16)
    with pytest.raises(BaseModelNotFound, match="model_index.json"):
        resolve_base_model(str(checkpoint))


def test_pipeline_directory_missing_components_names_them(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTX2Pipeline"}))
    for present in ("transformer", "vae", "scheduler"):
        (tmp_path / present).mkdir()
    with pytest.raises(BaseModelNotFound) as info:
        resolve_base_model(str(tmp_path))
    message = str(info.value)
    for missing in ("text_encoder", "tokenizer", "connectors"):
        assert missing in message
    assert "transformer" not in message.replace(str(tmp_path), ""), "a present folder was reported missing"


def test_pipeline_directory_missing_audio_components_is_rejected_up_front(tiny_model, tmp_path):
    import shutil

    copy = tmp_path / "no-audio"
    shutil.copytree(tiny_model.path, copy, ignore=shutil.ignore_patterns("audio_vae", "vocoder"))
    with pytest.raises(BaseModelNotFound) as info:
        resolve_base_model(str(copy))
    assert "audio_vae" in str(info.value) and "vocoder" in str(info.value)
