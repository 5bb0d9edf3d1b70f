"""`model_version`: the LTX version read from a model folder's own files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from train_svc.models.base_model import BaseModelNotFound, resolve_base_model
from train_svc.models.real_size import REAL_CONFIG_DIR
from train_svc.models.versions import UnknownModelVersion, model_version


def _real_23_folder(root: Path) -> Path:
    """A folder holding the committed real LTX-2.3 configs, each as its component's config.json."""
    for config in sorted((REAL_CONFIG_DIR / "ltx2.3").glob("*.json")):
        (root / config.stem).mkdir(parents=True)
        shutil.copy(config, root / config.stem / "config.json")
    return root


def test_the_23_preset_is_23(tiny_model):
    assert model_version(tiny_model.path) == "2.3"


def test_the_real_23_configs_are_23(tmp_path):
    assert model_version(_real_23_folder(tmp_path)) == "2.3"


def test_the_25_preset_is_25(tiny_model_25):
    assert model_version(tiny_model_25.path) == "2.5"


def test_a_folder_without_a_transformer_config_is_refused(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(UnknownModelVersion, match="no transformer/config.json"):
        model_version(tmp_path)


def test_another_transformer_class_is_refused(tmp_path):
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "config.json").write_text(json.dumps({"_class_name": "FluxTransformer2DModel"}))
    with pytest.raises(UnknownModelVersion, match="FluxTransformer2DModel"):
        model_version(tmp_path)


def test_an_ltx20_transformer_names_the_flags_that_differ(tmp_path):
    folder = _real_23_folder(tmp_path)
    config_path = folder / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config.update(cross_attn_mod=False, audio_cross_attn_mod=False, use_prompt_embeddings=True)
    config_path.write_text(json.dumps(config))
    with pytest.raises(UnknownModelVersion, match=r"neither LTX-2\.3 nor LTX-2\.5.*cross_attn_mod=False"):
        model_version(folder)


def test_a_text_encoder_of_the_other_version_is_refused(tmp_path):
    folder = _real_23_folder(tmp_path)
    (folder / "model_index.json").write_text(
        json.dumps(
            {"_class_name": "LTX2Pipeline", "text_encoder": ["transformers", "Gemma4UnifiedForConditionalGeneration"]}
        )
    )
    with pytest.raises(UnknownModelVersion, match=r"LTX-2\.3's but the text encoder .* is LTX-2\.5's"):
        model_version(folder)


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(UnknownModelVersion, match="not a directory"):
        model_version(tmp_path / "nothing")


def test_a_resolved_base_carries_the_version_its_files_name(tiny_model, tiny_model_25):
    assert (tiny_model.version, tiny_model.profile.video_decoder) == ("2.3", "vae")
    assert (tiny_model_25.version, tiny_model_25.profile.video_decoder) == ("2.5", "diffusion_decoder")


def test_the_service_refuses_a_base_whose_version_cannot_be_read(tmp_path, tiny_model):
    shutil.copytree(tiny_model.path, tmp_path / "model", symlinks=True)
    config = tmp_path / "model" / "transformer" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"cross_attn_mod": False}))
    with pytest.raises(BaseModelNotFound, match="matches neither LTX-2.3 nor LTX-2.5: cross_attn_mod=False"):
        resolve_base_model(str(tmp_path / "model"))
