"""The committed real LTX-2.3 configs, built on the meta device, have the real model's exact sizes.

Each build is under a second on the meta device (the transformer ~0.5 s, the vocoder ~0.7 s). Importing the
model classes costs a few seconds once per process (paid by the tiny-preset tests anyway); a module fixture
pays it up front, so the tests' own times are the builds.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Any

import pytest

from train_svc.models.real_size import (
    COMPONENTS,
    REAL_CONFIG_DIR,
    available_versions,
    meta_component,
    parameter_count,
    real_config,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _model_classes_imported() -> None:
    import diffusers.models.autoencoders.autoencoder_kl_ltx2  # noqa: F401
    import diffusers.models.autoencoders.autoencoder_kl_ltx2_audio  # noqa: F401
    import diffusers.models.transformers.transformer_ltx2  # noqa: F401
    import diffusers.pipelines.ltx2.connectors  # noqa: F401
    import diffusers.pipelines.ltx2.vocoder  # noqa: F401
    import transformers.models.gemma3.modeling_gemma3  # noqa: F401


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_transformer_is_exactly_the_real_size():
    assert parameter_count("transformer") == 18_988_838_144


def test_transformer_is_48_blocks_plus_the_rest():
    block = _params(meta_component("transformer", num_layers=1).get_submodule("transformer_blocks.0"))
    outside = _params(meta_component("transformer", num_layers=0))
    assert block == 386_695_360
    assert outside == 427_460_864
    assert 48 * block + outside == parameter_count("transformer")


def test_connectors_are_exactly_the_real_size():
    assert parameter_count("connectors") == 3_172_227_584
    parts = {name: _params(child) for name, child in meta_component("connectors").named_children()}
    assert parts == {
        "video_text_proj_in": 770_707_456,
        "audio_text_proj_in": 385_353_728,
        "video_connector": 1_612_546_304,
        "audio_connector": 403_620_096,
    }


def test_vae_and_text_encoder_sizes_are_plausible():
    assert 0.70e9 <= parameter_count("vae") <= 0.76e9
    assert 12.0e9 <= parameter_count("text_encoder") <= 12.4e9


def test_every_component_builds_on_meta_with_no_weights():
    for component in COMPONENTS:
        overrides: dict[str, Any] = {"num_layers": 1} if component == "transformer" else {}
        module = meta_component(component, **overrides)
        assert {p.device.type for p in module.parameters()} == {"meta"}, component
        assert _params(module) > 0, component


def test_configs_keep_the_couplings_of_the_model():
    transformer = real_config("transformer")
    connectors = real_config("connectors")
    audio_vae = real_config("audio_vae")
    vocoder = real_config("vocoder")
    gemma = real_config("text_encoder")["text_config"]
    assert connectors["caption_channels"] == transformer["caption_channels"] == gemma["hidden_size"] == 3840
    assert connectors["text_proj_in_factor"] == gemma["num_hidden_layers"] + 1 == 49
    assert connectors["video_hidden_dim"] == transformer["cross_attention_dim"] == 32 * 128
    assert connectors["audio_hidden_dim"] == transformer["audio_cross_attention_dim"] == 32 * 64
    base = audio_vae["latent_channels"] * audio_vae["mel_bins"] // 4
    assert audio_vae["base_channels"] == base == transformer["audio_in_channels"] == transformer["audio_out_channels"]
    assert vocoder["in_channels"] == 2 * audio_vae["mel_bins"]
    assert real_config("vae")["latent_channels"] == transformer["in_channels"] == 128
    for flag in ("gated_attn", "audio_gated_attn", "cross_attn_mod", "audio_cross_attn_mod", "perturbed_attn"):
        assert transformer[flag] is True, flag
    assert transformer["use_prompt_embeddings"] is False
    assert transformer["rope_type"] == connectors["rope_type"] == "split"


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="unknown component"):
        real_config("unet")
    with pytest.raises(ValueError, match="available: 2.3"):
        real_config("transformer", version="9.9")
    with pytest.raises(ValueError, match="num_layer"):
        meta_component("transformer", num_layer=1)  # misspelt: never silently ignored
    config = real_config("transformer")
    config["num_layers"] = 1
    assert real_config("transformer")["num_layers"] == 48  # callers get a copy


def test_configs_are_package_data():
    """A non-editable install carries every committed config."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["train_svc.models"]
    package_dir = REPO / "train_svc" / "models"
    files = sorted(REAL_CONFIG_DIR.rglob("*.json"))
    assert available_versions() == ["2.3"]
    assert {f.stem for f in files} == set(COMPONENTS)
    for path in files:
        relative = path.relative_to(package_dir).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in globs), relative
