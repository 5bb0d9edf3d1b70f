"""`ltx-trainer lora ...` on a LoRA the trainer trained on the tiny preset (audio and video, alpha != rank),
each output loaded with diffusers' `LTX2Pipeline.load_lora_weights`; ComfyUI's loading rule checked by hand."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from train_svc.cli.main import main
from train_svc.export.lora_file import LoraMetadata, write_lora
from train_svc.lora_tools.keys import parse_key
from train_svc.lora_tools.layouts import original_name
from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.config import TrainConfig
from train_svc.training.trainer import LoraTrainer, TrainingSample

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:Already found a `peft_config`:UserWarning")]
RANK, ALPHA = 4, 8.0
SAMPLE_RATE = 16_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, placement, video_encoder, caption_encoder, make_clip):
    """lora.safetensors as the service writes it, after 2 joint audio-video steps with the feed-forwards."""
    clip = make_clip(9, 64, 64, base=(0.9, 0.4, 0.0), accent=(0.0, 0.2, 0.8), direction=1)
    t = np.arange(round(9 / 24.0 * SAMPLE_RATE)) / SAMPLE_RATE
    sound = np.stack([0.4 * np.sin(2 * np.pi * 300 * t)] * 2).astype(np.float32)
    encoder = AudioEncoder(tiny_model.path, placement)
    try:
        audio = encoder.encode(sound, SAMPLE_RATE, 9 / 24.0)
    finally:
        encoder.close()
    sample = TrainingSample("s", video_encoder.encode(clip, 24.0), caption_encoder.encode("zqx chord"), audio)
    config = TrainConfig(rank=RANK, alpha=ALPHA, learning_rate=1e-2, steps=2, feed_forward=True, audio=True)
    trainer = LoraTrainer(tiny_model.path, placement, config)
    trainer.train([sample])
    metadata = LoraMetadata("zqx", RANK, ALPHA, tiny_model.name, 2, "t2v", True)
    return write_lora(tmp_path_factory.mktemp("trained") / "lora.safetensors", trainer.lora_state_dict(), metadata)


@pytest.fixture(scope="module")
def pipe(tiny_model):
    from diffusers import LTX2Pipeline

    return LTX2Pipeline.from_pretrained(tiny_model.path, local_files_only=True)


def _deltas(pipe, path, adapter: str) -> dict[str, torch.Tensor]:
    """module -> the weight delta the loaded adapter applies (scaling * B @ A), as diffusers loaded it."""
    from peft.tuners.lora import LoraLayer

    pipe.load_lora_weights(str(path), adapter_name=adapter)
    return {
        name: module.scaling[adapter] * module.lora_B[adapter].weight @ module.lora_A[adapter].weight
        for name, module in pipe.transformer.named_modules()
        if isinstance(module, LoraLayer) and adapter in module.lora_A
    }


def _file_deltas(path) -> dict[str, torch.Tensor]:
    tensors = load_file(path)
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        found = parse_key(key)
        assert found is not None, key
        parts.setdefault(found.module, {})[found.part] = value
    return {module: p["B"] @ p["A"] for module, p in parts.items()}


def _lora(*args: str) -> int:
    return main(["lora", *map(str, args)])


def test_inspect_json_reports_rank_alpha_branches_and_nonfinite_values(trained, tmp_path, capsys):
    assert _lora("inspect", trained, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    keys = len(load_file(trained))
    assert (report["rank"], report["alpha"], report["nonfinite"]) == (RANK, ALPHA, 0)
    assert report["audio_keys"] > 0 and report["video_keys"] > 0
    assert report["audio_keys"] + report["video_keys"] == keys
    assert report["metadata"]["trigger_phrase"] == "zqx"
    broken = tmp_path / "nan.safetensors"
    tensors = load_file(trained)
    next(iter(tensors.values()))[0, 0] = float("nan")
    save_file(tensors, str(broken))
    assert _lora("inspect", broken, "--json") == 0
    assert json.loads(capsys.readouterr().out)["nonfinite"] == 1


def test_the_trained_lora_loads_as_written(pipe, trained):
    loaded, written = _deltas(pipe, trained, "as_written"), _file_deltas(trained)
    assert loaded.keys() == written.keys()
    for module, delta in written.items():
        torch.testing.assert_close(loaded[module], delta)


def test_check_fits_the_base_and_reports_another_depth(trained, tiny_model, tmp_path, capsys):
    assert _lora("check", trained, "--base-model", "ltx2.3-tiny") == 0
    assert "fits ltx2.3-tiny" in capsys.readouterr().out
    shallow = tmp_path / "shallow"
    shutil.copytree(tiny_model.path, shallow)
    config_path = shallow / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_layers"] = 1
    config_path.write_text(json.dumps(config))
    assert _lora("check", trained, "--base-model", shallow) == 1
    report = capsys.readouterr().out
    assert "does NOT fit" in report
    assert "the LoRA adapts transformer blocks 0-1; the base has 1 blocks (0-0)" in report
    assert re.search(r"transformer_blocks\.1\.attn1\.to_q +unknown module: the base has no Linear layer", report)
    assert "transformer_blocks.0." not in report


def test_check_exits_2_on_a_file_it_cannot_read(trained, tmp_path, capsys):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(trained.read_bytes()[:-100])
    for path in (garbage, truncated):
        assert _lora("check", path, "--base-model", "ltx2.3-tiny") == 2
        assert "not a readable safetensors file" in capsys.readouterr().err


@pytest.mark.parametrize("branch", ["audio", "video"])
def test_strip_leaves_no_key_of_the_branch_and_loads(pipe, trained, tmp_path, branch):
    out = tmp_path / f"no-{branch}.safetensors"
    assert _lora(f"strip-{branch}", trained, out) == 0
    keys = [parse_key(key) for key in load_file(out)]
    assert keys and all(k is not None and k.branch != branch for k in keys)
    with safe_open(str(out), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata[branch] == "false" and metadata["trigger_phrase"] == "zqx"
    loaded = _deltas(pipe, out, f"no_{branch}")
    assert loaded.keys() == {k.module for k in keys if k is not None}
    written = _file_deltas(out)
    for module, delta in written.items():
        torch.testing.assert_close(loaded[module], delta)


def test_convert_round_trips_exactly_and_both_layouts_load(pipe, trained, tmp_path):
    diffusers, back = tmp_path / "diffusers.safetensors", tmp_path / "back.safetensors"
    assert _lora("convert", trained, diffusers, "--to", "diffusers") == 0
    assert _lora("convert", diffusers, back, "--to", "comfyui") == 0
    assert all(key.startswith("transformer.") for key in load_file(diffusers))
    original, returned = load_file(trained), load_file(back)
    assert original.keys() == returned.keys()
    assert all(torch.equal(returned[key], value) for key, value in original.items())
    expected = _file_deltas(trained)
    loaded = _deltas(pipe, diffusers, "converted")
    assert loaded.keys() == expected.keys()
    for module, delta in expected.items():
        torch.testing.assert_close(loaded[module], delta)


def test_scale_folds_a_strength_into_the_delta(pipe, trained, tmp_path):
    expected = _file_deltas(trained)
    for factor, adapter in ((0.0, "scaled_by_0"), (2.0, "scaled_by_2")):
        out = tmp_path / f"{adapter}.safetensors"
        assert _lora("scale", trained, out, factor) == 0
        loaded = _deltas(pipe, out, adapter)
        assert loaded.keys() == expected.keys()
        for module, delta in expected.items():
            torch.testing.assert_close(loaded[module], delta * factor)


def test_transforms_refuse_to_overwrite_their_input(trained, capsys):
    before = trained.read_bytes()
    assert _lora("scale", trained, trained, 2) == 2
    assert "is the input file" in capsys.readouterr().err
    assert trained.read_bytes() == before


def test_every_key_loads_by_comfyuis_rule(trained, tmp_path, tiny_model):
    """ComfyUI's LTX-2 rule, restated: the model key `diffusion_model.X.weight` (original layout) takes
    `X.lora_A.weight` / `X.lora_B.weight` under the names `X` or `diffusion_model.X`, at scale 1.0 when there
    is no `X.alpha`. Every key of the file must be taken by a weight of the base, with B @ A of its shape."""
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(tiny_model.path, subfolder="transformer")
    model = {f"diffusion_model.{original_name(n)}": p.shape for n, p in transformer.named_parameters()}
    stripped = tmp_path / "no-audio.safetensors"
    assert _lora("strip-audio", trained, stripped) == 0
    for path in (trained, stripped):
        lora = load_file(path)
        taken = set()
        for model_key, shape in model.items():
            if not model_key.endswith(".weight"):
                continue
            x = model_key.removeprefix("diffusion_model.").removesuffix(".weight")
            for name in (x, f"diffusion_model.{x}"):
                down, up = f"{name}.lora_A.weight", f"{name}.lora_B.weight"
                if down in lora and up in lora:
                    assert f"{name}.alpha" not in lora
                    assert (lora[up] @ lora[down]).shape == shape, model_key
                    taken |= {down, up}
        assert taken == set(lora), f"keys ComfyUI would not load: {sorted(set(lora) - taken)[:3]}"
