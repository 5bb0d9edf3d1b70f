"""LoRA tools on small synthetic files (no model): key parsing, branches, reading, atomic writes, transforms."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from train_svc.lora_tools.keys import LoraKey, branch_of, make_key, parse_key
from train_svc.lora_tools.lora_io import LoraFile, LoraReadError, LoraWriteError, read_lora, write_lora_file
from train_svc.lora_tools.summary import ADAPTER_METADATA, summarize
from train_svc.lora_tools.transforms import TransformError, convert, scale, strip_branch
from train_svc.lora_tools.version_fit import fit_modules, mismatch_message

RANK = 2
MODULES = {  # module -> (out, in)
    "transformer_blocks.0.attn1.to_q": (8, 8),
    "transformer_blocks.0.audio_attn1.to_q": (4, 4),
    "transformer_blocks.0.audio_to_video_attn.to_q": (8, 8),
    "transformer_blocks.0.video_to_audio_attn.to_k": (4, 8),
    "transformer_blocks.0.audio_ff.net.2": (4, 16),
}
AUDIO = {"transformer_blocks.0.audio_attn1.to_q", "transformer_blocks.0.video_to_audio_attn.to_k"} | {
    "transformer_blocks.0.audio_ff.net.2"
}
METADATA = {
    "format": "ltx2-original",
    "rank": str(RANK),
    "alpha": "4.0",
    "audio": "true",
    "trigger_phrase": "zqx",
    "ltx_version": "2.3",
}


def _lora(layout: str = "comfyui") -> LoraFile:
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for module, (out_features, in_features) in MODULES.items():
        tensors[make_key(module, "A", layout)] = torch.randn(RANK, in_features, generator=generator)
        tensors[make_key(module, "B", layout)] = torch.randn(out_features, RANK, generator=generator)
    return LoraFile(tensors, dict(METADATA))


def test_keys_parse_in_both_layouts_and_original_names_are_translated():
    original = parse_key("diffusion_model.transformer_blocks.3.attn2.to_out.0.lora_B.weight")
    diffusers = parse_key("transformer.transformer_blocks.3.attn2.to_out.0.lora_B.weight")
    assert original == LoraKey("transformer_blocks.3.attn2.to_out.0", "B", "comfyui")
    assert diffusers == LoraKey("transformer_blocks.3.attn2.to_out.0", "B", "diffusers")
    found = parse_key("diffusion_model.patchify_proj.lora_A.weight")
    assert found is not None and (found.module, found.part) == ("proj_in", "A")
    assert make_key("proj_in", "A", "comfyui") == "diffusion_model.patchify_proj.lora_A.weight"
    assert make_key("proj_in", "A", "diffusers") == "transformer.proj_in.lora_A.weight"
    assert parse_key("diffusion_model.x.lora_down.weight") is None
    assert parse_key("connectors.x.lora_A.weight") is None


def test_a_module_is_audio_when_it_writes_into_the_audio_stream():
    block = "transformer_blocks.7."
    audio = ["audio_attn1.to_q", "audio_attn2.to_out.0", "audio_ff.net.0.proj", "video_to_audio_attn.to_v"]
    video = ["attn1.to_q", "attn2.to_k", "ff.net.2", "audio_to_video_attn.to_q"]
    assert {branch_of(block + name) for name in audio} == {"audio"}
    assert {branch_of(block + name) for name in video} == {"video"}
    assert branch_of("audio_proj_in") == branch_of("av_cross_attn_audio_v2a_gate.linear") == "audio"
    assert branch_of("proj_in") == branch_of("av_cross_attn_video_a2v_gate.linear") == "video"


def test_unreadable_files_raise_a_clear_error(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(LoraReadError, match="not a readable safetensors file"):
        read_lora(garbage)
    good = tmp_path / "good.safetensors"
    save_file(_lora().tensors, str(good))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(LoraReadError, match="truncated"):
        read_lora(truncated)
    with pytest.raises(LoraReadError, match="no such file"):
        read_lora(tmp_path / "missing.safetensors")


def test_writes_refuse_the_input_and_leave_nothing_behind_on_error(tmp_path):
    source = tmp_path / "in.safetensors"
    save_file(_lora().tensors, str(source))
    before = source.read_bytes()
    with pytest.raises(LoraWriteError, match="is the input file"):
        write_lora_file(tmp_path / "." / "in.safetensors", read_lora(source), source=source)
    assert source.read_bytes() == before
    broken = LoraFile({"a": torch.zeros(1)}, {"bad": 1})  # save_file rejects a non-string value
    with pytest.raises(TypeError):
        write_lora_file(tmp_path / "out.safetensors", broken, source=source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.safetensors"]


def test_summary_counts_branches_parameters_and_nonfinite_values():
    lora = _lora()
    lora.tensors[make_key("transformer_blocks.0.attn1.to_q", "A", "comfyui")][0, :3] = torch.tensor(
        [float("nan"), float("inf"), 1.0]
    )
    summary = summarize(lora)
    assert (summary.audio_keys, summary.video_keys, summary.rank, summary.alpha) == (6, 4, RANK, 4.0)
    assert summary.nonfinite == 2 and summary.nonfinite_keys == [
        "diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight"
    ]
    assert summary.parameters == sum(t.numel() for t in lora.tensors.values())
    assert summary.ltx_version == "2.3" and summary.as_json()["ltx_version"] == "2.3"
    assert summarize(LoraFile(lora.tensors, {})).ltx_version == ""  # an older or third-party file names none


def test_strip_removes_a_branch_and_updates_the_metadata():
    no_audio = strip_branch(_lora(), "audio")
    assert {parse_key(k).module for k in no_audio.tensors} == set(MODULES) - AUDIO
    assert no_audio.metadata["audio"] == "false" and no_audio.metadata["stripped"] == "audio"
    assert no_audio.metadata["trigger_phrase"] == "zqx" and no_audio.metadata["ltx_version"] == "2.3"
    no_video = strip_branch(_lora(), "video")
    assert {parse_key(k).module for k in no_video.tensors} == AUDIO
    with pytest.raises(TransformError, match="nothing would be left"):
        strip_branch(no_video, "audio")
    diffusers_no_audio = strip_branch(convert(_lora(), "diffusers"), "audio")
    config = json.loads(diffusers_no_audio.metadata[ADAPTER_METADATA])
    assert config["transformer.target_modules"] == sorted(set(MODULES) - AUDIO)


def test_scale_multiplies_lora_b_only_and_records_the_strength():
    lora = _lora()
    scaled = scale(scale(lora, 2.0), 0.25)
    for key, value in lora.tensors.items():
        expected = value * 0.5 if ".lora_B." in key else value
        torch.testing.assert_close(scaled.tensors[key], expected)
    assert scaled.metadata["strength"] == "0.5" and scaled.metadata["ltx_version"] == "2.3"


def test_convert_round_trips_exactly_and_folds_a_diffusers_alpha():
    lora = _lora()
    diffusers = convert(lora, "diffusers")
    assert all(key.startswith("transformer.") for key in diffusers.tensors)
    config = json.loads(diffusers.metadata[ADAPTER_METADATA])
    assert config["transformer.r"] == config["transformer.lora_alpha"] == RANK
    assert sorted(config["transformer.target_modules"]) == sorted(MODULES)
    back = convert(diffusers, "comfyui")
    assert back.tensors.keys() == lora.tensors.keys() and ADAPTER_METADATA not in back.metadata
    assert all(torch.equal(back.tensors[key], value) for key, value in lora.tensors.items())
    assert back.metadata["trigger_phrase"] == "zqx" and back.metadata["format"] == "ltx2-original"
    assert diffusers.metadata["ltx_version"] == back.metadata["ltx_version"] == "2.3"

    unfolded = LoraFile(
        diffusers.tensors, {ADAPTER_METADATA: json.dumps({"transformer.r": 2, "transformer.lora_alpha": 8})}
    )
    folded = convert(unfolded, "comfyui")
    for key, value in lora.tensors.items():
        torch.testing.assert_close(folded.tensors[key], value * 4 if ".lora_B." in key else value)


def test_transforms_refuse_files_with_keys_that_are_not_lora_weights():
    lora = _lora()
    lora.tensors["diffusion_model.x.lora_down.weight"] = torch.zeros(1)
    with pytest.raises(TransformError, match="not LoRA weights"):
        convert(lora, "diffusers")


def test_version_fit_names_each_module_that_does_not_fit_and_why():
    shapes = {
        "transformer_blocks.0.attn1.to_q": {"A": (RANK, 8), "B": (8, RANK)},
        "transformer_blocks.0.attn1.to_k": {"A": (RANK, 8), "B": (6, RANK)},
        "prompt_adaln.linear": {"A": (RANK, 8), "B": (48, RANK)},
    }
    linears = {"transformer_blocks.0.attn1.to_q": (8, 8), "transformer_blocks.0.attn1.to_k": (8, 8)}
    fit = fit_modules(shapes, linears, lora_version="2.3", base_version="2.5")
    assert fit.mismatched and fit.loaded == ("transformer_blocks.0.attn1.to_q",)
    assert fit.skipped == (
        "prompt_adaln.linear: no such layer in the base",
        "transformer_blocks.0.attn1.to_k: shape [6, 8] in the LoRA, [8, 8] in the base",
    )
    message = mismatch_message(fit, "x.safetensors", "Force it.")
    assert message.startswith("x.safetensors was made for LTX-2.3, the base model is LTX-2.5; 2 of its 3 modules")
    assert not fit_modules(shapes, linears, lora_version="", base_version="2.5").mismatched  # names no version
    assert not fit_modules(shapes, linears, lora_version="2.5", base_version="2.5").mismatched


def test_a_long_list_of_modules_that_do_not_fit_is_cut_after_twenty():
    shapes = {f"transformer_blocks.{i:02d}.attn1.to_q": {"A": (RANK, 8), "B": (8, RANK)} for i in range(25)}
    fit = fit_modules(shapes, {}, lora_version="2.3", base_version="2.5")
    message = mismatch_message(fit, "x", "")
    assert "transformer_blocks.19.attn1.to_q" in message and "transformer_blocks.20." not in message
    assert message.endswith("; and 5 more. ")
    linears = {module: (8, 8) for module in shapes}
    every = mismatch_message(fit_modules(shapes, linears, lora_version="2.3", base_version="2.5"), "x", "")
    assert "LTX-2.3" in every and "LTX-2.5" in every and "every one of its 25 modules would load" in every
