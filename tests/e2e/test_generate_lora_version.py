"""GenerateVideo over real gRPC on a service hosting both tiny presets (`default` LTX-2.3, `v25` LTX-2.5):
the base a request names, the version a LoRA's metadata names, and what happens when they differ."""

from __future__ import annotations

import grpc
import pytest

from shared.api import generation_pb2 as gen_pb
from shared.grpc_util.errors import error_details
from shared.uploads_layout import owner_uploads_dir
from tests.e2e.conftest import SMALL_GENERATION as SMALL
from tests.e2e.conftest import own_services
from tests.lora_files import ONLY_IN_23, random_lora_state, with_prompt_adaln, write_test_lora
from train_svc.models.base_model import resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.models.tiny_preset_25 import PRESET_NAME as PRESET_NAME_25

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory, principals):
    storage = tmp_path_factory.mktemp("storage")
    with own_services(storage, principals, base_model=(PRESET_NAME, f"v25={PRESET_NAME_25}")) as running:
        yield running


@pytest.fixture(scope="module")
def lora_23(stack):
    """A LoRA made for LTX-2.3 among alice's uploads, with one module for a layer LTX-2.5 does not have."""
    model_path = resolve_base_model(PRESET_NAME).path
    state = with_prompt_adaln(random_lora_state(model_path), model_path)
    return write_test_lora(owner_uploads_dir(stack.storage, "alice") / "v23.safetensors", state, ltx_version="2.3")


def _generate(stack, **fields) -> gen_pb.GenerationResult:
    events = list(stack.stub().GenerateVideo(gen_pb.GenerateVideoRequest(**{**SMALL, **fields}), timeout=300))
    assert events[-1].HasField("result")
    return events[-1].result


def _refused(stack, code: grpc.StatusCode, **fields) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        list(stack.stub().GenerateVideo(gen_pb.GenerateVideoRequest(**{**SMALL, **fields}), timeout=120))
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def test_a_23_lora_on_the_25_base_is_refused_naming_both_versions_and_what_does_not_fit(stack, lora_23):
    error = _refused(stack, grpc.StatusCode.FAILED_PRECONDITION, base_model="v25", lora_file=str(lora_23))
    _, info = error_details(error)
    assert info.reason == "LORA_VERSION_MISMATCH"
    assert dict(info.metadata) == {"lora_version": "2.3", "base_version": "2.5"}
    message = error.details()
    assert "made for LTX-2.3, the base model is LTX-2.5" in message
    assert f"{ONLY_IN_23}: no such layer in the base" in message and "allow_version_mismatch" in message


def test_allowed_it_loads_what_fits_and_the_result_lists_what_was_skipped(stack, lora_23):
    result = _generate(stack, base_model="v25", lora_file=str(lora_23), allow_version_mismatch=True)
    assert (result.base_model, result.ltx_version) == ("v25", "2.5")
    fit = result.lora_fit
    assert (fit.lora_version, fit.base_version) == ("2.3", "2.5")
    assert list(fit.skipped_modules) == [f"{ONLY_IN_23}: no such layer in the base"]
    assert fit.loaded_modules > 0


def test_the_generate_cli_names_the_base_and_lists_what_was_skipped(stack, lora_23, tmp_path, capsys, monkeypatch):
    from train_svc.cli import main as cli_main

    monkeypatch.setattr(cli_main, "configure_logging", lambda **kwargs: None)
    monkeypatch.setenv("LTX_TOKEN", stack.principals.tokens["alice"])
    args = ["generate", "--target", stack.training_target, "--lora", str(lora_23), "--base-id", "v25"]
    args += ["--num-frames", "9", "--resolution", "low", "--steps", "2", "--prompt", "zqx a cat"]
    assert cli_main.main([*args, "--out", str(tmp_path / "refused.mp4")]) == 2
    assert "LORA_VERSION_MISMATCH" in capsys.readouterr().err
    assert cli_main.main([*args, "--allow-version-mismatch", "--out", str(tmp_path / "v.mp4")]) == 0
    out = capsys.readouterr().out
    assert "base v25 (LTX-2.5)" in out and "the LoRA was made for LTX-2.3" in out
    assert f"  skipped {ONLY_IN_23}: no such layer in the base" in out.splitlines()


def test_the_default_base_is_used_when_none_is_named_and_an_unknown_one_is_a_bad_field(stack, lora_23):
    result = _generate(stack, lora_file=str(lora_23))  # the default base is LTX-2.3, like the LoRA
    assert (result.base_model, result.ltx_version) == ("default", "2.3") and not result.HasField("lora_fit")
    bad_request, info = error_details(_refused(stack, grpc.StatusCode.INVALID_ARGUMENT, base_model="ltx9"))
    assert info.reason == "INVALID_GENERATION_REQUEST"
    assert [v.field for v in bad_request.field_violations] == ["base_model"]
