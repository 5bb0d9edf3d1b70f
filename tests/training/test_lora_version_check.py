"""`ltx-trainer lora check` and `inspect` with the LTX version a LoRA's metadata names, on the tiny presets: a
LoRA made for LTX-2.3 checked against ltx2.5-tiny is refused unless --force-version; one that names no version
is checked by fit only."""

from __future__ import annotations

import json

import pytest

from tests.lora_files import ONLY_IN_23, random_lora_state, with_prompt_adaln, write_test_lora
from train_svc.cli.main import main
from train_svc.models.tiny_preset_25 import PRESET_NAME as PRESET_NAME_25

pytestmark = pytest.mark.integration  # CLI runs (in-process, a few seconds)


@pytest.fixture(scope="module")
def attention_state(tiny_model):
    return random_lora_state(tiny_model.path)


@pytest.fixture(scope="module")
def lora_23(tiny_model, attention_state, tmp_path_factory):
    """Made for LTX-2.3, with one module (prompt_adaln.linear) for a layer LTX-2.5 does not have."""
    state = with_prompt_adaln(attention_state, tiny_model.path)
    return write_test_lora(tmp_path_factory.mktemp("v23") / "lora.safetensors", state, ltx_version="2.3")


def _lora(*args) -> int:
    return main(["lora", *map(str, args)])


def test_inspect_shows_the_ltx_version(lora_23, capsys):
    assert _lora("inspect", lora_23) == 0
    assert "LTX version  2.3" in capsys.readouterr().out
    assert _lora("inspect", lora_23, "--json") == 0
    assert json.loads(capsys.readouterr().out)["ltx_version"] == "2.3"


def test_a_23_lora_is_refused_by_a_25_base_naming_both_versions_and_what_does_not_fit(lora_23, tiny_model_25, capsys):
    assert _lora("check", lora_23, "--base-model", PRESET_NAME_25) == 1
    out = capsys.readouterr().out
    assert f"was made for LTX-2.3, the base model {PRESET_NAME_25} is LTX-2.5" in out
    assert "1 of its " in out and f"{ONLY_IN_23}: no such layer in the base" in out
    assert "--force-version" in out


def test_forced_it_lists_the_modules_that_load_and_those_skipped(lora_23, tiny_model_25, capsys):
    assert _lora("check", lora_23, "--base-model", PRESET_NAME_25, "--force-version", "--verbose") == 0
    out = capsys.readouterr().out
    head, *lines = out.splitlines()
    assert "LTX-2.3" in head and "LTX-2.5" in head and "forced (--force-version)" in head
    assert "1 skipped" in head and f"    {ONLY_IN_23}: no such layer in the base" in lines
    assert "  loaded:" in lines and "    transformer_blocks.0.attn1.to_q" in lines


def test_an_attention_only_23_lora_is_refused_though_every_module_would_load(
    attention_state, tiny_model_25, tmp_path, capsys
):
    path = write_test_lora(tmp_path / "lora.safetensors", attention_state, ltx_version="2.3")
    assert _lora("check", path, "--base-model", PRESET_NAME_25) == 1
    out = capsys.readouterr().out
    assert "LTX-2.3" in out and "LTX-2.5" in out and "modules would load" in out


def test_a_lora_that_names_no_version_is_checked_by_fit_only(
    attention_state, tiny_model, tiny_model_25, tmp_path, capsys
):
    path = write_test_lora(tmp_path / "lora.safetensors", attention_state)
    assert _lora("check", path, "--base-model", PRESET_NAME_25) == 0
    assert f"fits {PRESET_NAME_25}" in capsys.readouterr().out
    with_23_only = write_test_lora(tmp_path / "more.safetensors", with_prompt_adaln(attention_state, tiny_model.path))
    assert _lora("check", with_23_only, "--base-model", PRESET_NAME_25) == 1
    out = capsys.readouterr().out
    assert "does NOT fit" in out and ONLY_IN_23 in out and "LTX-" not in out
