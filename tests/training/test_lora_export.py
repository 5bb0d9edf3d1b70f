"""The shipped LoRA file: original/ComfyUI keys, alpha folded into lora_B, metadata, and no NaN files.

The state dicts here come from a real LoraTrainer on the tiny preset (real peft module names), with
seeded random values so that scaling is visible (a fresh LoRA has lora_B == 0).
"""

from __future__ import annotations

import re

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from train_svc.export.lora_file import LoraMetadata, NonFiniteLora, write_lora
from train_svc.export.outputs import inference_config
from train_svc.training.config import TrainConfig
from train_svc.training.lora_model import load_transformer
from train_svc.training.lora_targets import target_module_names
from train_svc.training.trainer import LoraTrainer, lora_file_names

RANK, ALPHA = 8, 4.0
KEY_PATTERN = re.compile(r"^diffusion_model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


@pytest.fixture(scope="module")
def trainer(tiny_model, placement):
    config = TrainConfig(rank=RANK, alpha=ALPHA, learning_rate=1e-4, steps=1, feed_forward=True)
    return LoraTrainer(tiny_model.path, placement, config)


@pytest.fixture(scope="module")
def transformer(tiny_model, placement):
    return load_transformer(tiny_model.path, placement)


@pytest.fixture
def state(trainer) -> dict[str, torch.Tensor]:
    """The trainer's real LoRA keys and shapes, filled with seeded random values."""
    generator = torch.Generator().manual_seed(0)
    return {key: torch.randn(value.shape, generator=generator) for key, value in trainer.lora_state_dict().items()}


def _metadata(**overrides) -> LoraMetadata:
    fields = dict(
        trigger_phrase="zqx style",
        rank=RANK,
        alpha=ALPHA,
        base_model="ltx2.3-tiny",
        steps=123,
        training_type="t2v",
        audio=False,
    )
    fields.update(overrides)
    return LoraMetadata(**fields)


def test_keys_are_in_the_original_comfyui_format(tmp_path, trainer, state):
    path = write_lora(tmp_path / "lora.safetensors", state, _metadata())
    keys = load_file(path).keys()
    assert len(keys) == len(state) == 2 * len(trainer.target_modules)
    parts: dict[str, set[str]] = {}
    for key in keys:
        match = KEY_PATTERN.match(key)
        assert match, f"not an original-format LoRA key: {key}"
        parts.setdefault(match["module"], set()).add(match["part"])
    assert sorted(parts) == sorted(trainer.target_modules)
    assert all(found == {"A", "B"} for found in parts.values())


def test_lora_b_carries_alpha_over_rank_and_lora_a_is_unchanged(tmp_path, state):
    path = write_lora(tmp_path / "lora.safetensors", state, _metadata())
    written = load_file(path)
    scale = ALPHA / RANK
    assert scale != 1.0
    for key, value in state.items():
        stored = written["diffusion_model." + key]
        expected = value * scale if ".lora_B." in key else value
        torch.testing.assert_close(stored, expected, rtol=0, atol=0)


def test_alpha_equal_to_rank_leaves_lora_b_unchanged(tmp_path, state):
    path = write_lora(tmp_path / "lora.safetensors", state, _metadata(alpha=float(RANK)))
    written = load_file(path)
    for key, value in state.items():
        torch.testing.assert_close(written["diffusion_model." + key], value, rtol=0, atol=0)


def test_header_records_what_the_lora_was_trained_for(tmp_path, state):
    path = write_lora(tmp_path / "lora.safetensors", state, _metadata(audio=True, ltx_version="2.5"))
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["trigger_phrase"] == "zqx style"
    assert int(meta["rank"]) == RANK
    assert float(meta["alpha"]) == ALPHA
    assert meta["base_model"] == "ltx2.3-tiny"
    assert int(meta["steps"]) == 123
    assert meta["training_type"] == "t2v"
    assert meta["audio"] == "true"
    assert meta["ltx_version"] == "2.5"
    unversioned = write_lora(tmp_path / "old.safetensors", state, _metadata())
    with safe_open(str(unversioned), framework="pt") as handle:
        assert "ltx_version" not in handle.metadata()


def test_config_json_names_the_base_and_its_ltx_version():
    config = inference_config(
        settings_json={"trigger_phrase": "zqx"},
        base_model="ltx2.5-tiny",
        ltx_version="2.5",
        rank=RANK,
        alpha=ALPHA,
        audio=False,
        base_weights="bf16",
    )
    assert (config["base_model"], config["ltx_version"]) == ("ltx2.5-tiny", "2.5")


def test_requested_dtype_is_written(tmp_path, state):
    path = write_lora(tmp_path / "lora.safetensors", state, _metadata(), dtype=torch.bfloat16)
    assert {value.dtype for value in load_file(path).values()} == {torch.bfloat16}


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("part", ["lora_A", "lora_B"])
def test_non_finite_lora_is_refused_and_no_file_is_written(tmp_path, state, bad_value, part):
    key = next(k for k in state if f".{part}." in k)
    state[key] = state[key].clone()
    state[key][0, 0] = bad_value
    target = tmp_path / "out" / "lora.safetensors"
    with pytest.raises(NonFiniteLora, match=re.escape(key)):
        write_lora(target, state, _metadata())
    assert not target.exists()
    assert not target.parent.exists() or not any(target.parent.iterdir()), "a partial file was left behind"


def test_non_finite_lora_does_not_replace_an_existing_file(tmp_path, state):
    target = tmp_path / "lora.safetensors"
    write_lora(target, state, _metadata())
    before = target.read_bytes()
    broken = dict(state)
    key = next(iter(broken))
    broken[key] = torch.full_like(broken[key], float("nan"))
    with pytest.raises(NonFiniteLora):
        write_lora(target, broken, _metadata())
    assert target.read_bytes() == before


# --- which layers a video-only LoRA touches -------------------------------------------------------------

VIDEO_ATTENTION = re.compile(r"^transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$")
VIDEO_FF = re.compile(r"^transformer_blocks\.\d+\.ff\.net\.(0\.proj|2)$")


def _assert_no_audio_layers(names):
    for name in names:
        assert "audio" not in name, name
        assert not re.search(r"_to_\w+_attn", name), name


def test_video_only_targets_are_the_video_self_and_text_attentions(transformer):
    names = target_module_names(transformer, audio=False, feed_forward=False)
    assert all(VIDEO_ATTENTION.match(n) for n in names), names
    _assert_no_audio_layers(names)
    # every block, both attentions, all four projections
    assert len(names) == transformer.config.num_layers * 2 * 4


def test_feed_forward_option_adds_only_the_video_ffn(transformer):
    names = target_module_names(transformer, audio=False, feed_forward=True)
    ff = [n for n in names if VIDEO_FF.match(n)]
    assert len(ff) == transformer.config.num_layers * 2
    assert all(VIDEO_ATTENTION.match(n) or VIDEO_FF.match(n) for n in names), names
    _assert_no_audio_layers(names)


def test_audio_option_is_what_adds_audio_and_cross_modal_attentions(transformer):
    """Guards the two tests above: the audio layers exist and are selectable, so their absence means something."""
    names = target_module_names(transformer, audio=True, feed_forward=True)
    assert any(".audio_attn1." in n for n in names)
    assert any(".audio_to_video_attn." in n for n in names)
    assert any(".video_to_audio_attn." in n for n in names)
    assert any(".audio_ff." in n for n in names)


def test_exported_video_only_lora_has_no_audio_keys(tmp_path, state):
    path = write_lora(tmp_path / "lora.safetensors", state, _metadata())
    _assert_no_audio_layers(KEY_PATTERN.match(k)["module"] for k in load_file(path))


def test_lora_file_names_are_peft_state_dict_names(tiny_model, placement) -> None:
    """A checkpoint's LoRA (peft parameter names) becomes the file's LoRA by name alone: the export of a run
    trained elsewhere (a worker) reads it from the checkpoint."""
    from peft.utils import get_peft_model_state_dict

    trainer = LoraTrainer(tiny_model.path, placement, TrainConfig(rank=4, learning_rate=1e-3, steps=1, audio=True))
    expected = get_peft_model_state_dict(trainer.transformer, adapter_name="default")
    got = lora_file_names({name: p.detach() for name, p in trainer.named_lora_parameters.items()})
    assert got.keys() == expected.keys() and len(got) > 0
    assert all(torch.equal(got[key], expected[key].float()) for key in got)
