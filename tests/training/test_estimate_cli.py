"""`ltx-trainer estimate`, run in-process on the real LTX-2.3 (meta device: no weights, no service, no GPU).

The refusals are checked before any estimate and are quick; an estimate traces the step (~10 s the first
time in a process, ~5 s for each further bucket), so those tests are in the integration tier and share
their runs through module fixtures.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from train_svc.cli import main as cli_main
from train_svc.cli.estimate_cmd import BASE_WEIGHTS
from train_svc.cli.exit_codes import ExitCode
from train_svc.cli.main import main
from train_svc.estimate.estimator import PARTS
from train_svc.estimate.preflight import BASE_WEIGHTS as PREFLIGHT_BASE_WEIGHTS

REQUEST = {"trigger_phrase": "zqx", "rank": 16, "number_of_steps": 500, "number_of_frames": 25, "resolution": "low"}


@pytest.fixture(autouse=True)
def no_logging_setup(monkeypatch):
    """main() would point structlog at this test's captured stderr, closed once the test ends."""
    monkeypatch.setattr(cli_main, "configure_logging", lambda **kwargs: None)


def _request(folder: Path, name: str = "request.json", **fields: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps({**REQUEST, **fields}))
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["estimate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_parsers_base_weights_are_the_estimators():
    assert BASE_WEIGHTS == PREFLIGHT_BASE_WEIGHTS


def test_a_bad_request_or_argument_names_every_problem_and_exits_2_before_estimating(tmp_path, capsys):
    request = tmp_path / "bad.json"
    request.write_text(json.dumps({"rank": 31, "resolution": "huge", "colour": "red"}))
    code, out, err = _run(
        capsys, str(request), "--gpu", "tpu", "--width", "100", "--frames", "10", "--offload-blocks", "99"
    )
    assert (code, out) == (ExitCode.REFUSED, "")
    for problem in (
        "bad.json: rank: must be one of 8, 16, 32, 64, 128 (got 31)",
        "bad.json: resolution: must be one of",
        "bad.json: colour: is not a field of the request",
        "--gpu: unknown GPU 'tpu'",
        "--width: must be a multiple of 32",
        "--frames: must be 8k+1",
        "--offload-blocks: must be between 0 and 48",
    ):
        assert problem in err, problem
    assert "training_data_url" not in err  # the estimate needs no dataset
    assert "estimating" not in err

    code, out, err = _run(capsys, str(_request(tmp_path)), "--offload-blocks", "8", "--no-gradient-checkpointing")
    assert (code, out) == (ExitCode.REFUSED, "")
    assert "--offload-blocks: needs gradient checkpointing" in err


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", None])
def test_an_unreadable_request_exits_2(tmp_path, capsys, content):
    request = tmp_path / "request.json"
    if content is not None:
        request.write_text(content)
    code, out, err = _run(capsys, str(request))
    assert (code, out) == (ExitCode.REFUSED, "")
    assert str(request) in err


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[int, str, str]]:
    """Estimates of the same request: as JSON (audio unset, and audio off), as a report on an H100, and on
    an RTX 4090 and 5090, where it does not fit as it is."""
    folder = tmp_path_factory.mktemp("estimate")

    def run(*argv: str) -> tuple[int, str, str]:  # capsys is per test: captured by hand
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            mp.setattr(cli_main, "configure_logging", lambda **kwargs: None)
            code = main(["estimate", *argv])
        return code, out.getvalue(), err.getvalue()

    request, video_only = _request(folder), _request(folder, "video_only.json", with_audio=False)
    return {
        "json": run(str(request), "--json"),
        "video_only": run(str(video_only), "--json"),
        "h100": run(str(request)),
        "rtx4090": run(str(request), "--gpu", "rtx4090"),
        "rtx5090": run(str(request), "--gpu", "rtx5090", "--json"),
        "rtx5090_report": run(str(request), "--gpu", "rtx5090"),
    }


@pytest.mark.integration
def test_json_is_one_object_with_the_estimate(runs):
    code, out, _ = runs["json"]
    assert code == ExitCode.OK
    estimate = json.loads(out)  # the whole of stdout: one JSON object, nothing else
    required = {
        "model", "gpu", "memory_bytes", "settings", "peak_memory_bytes", "parts", "training_peak_bytes",
        "encoding_peak_bytes", "fits", "seconds_per_step", "total_seconds", "billable_units", "tokens_per_sample",
        "flops_per_step", "gpus", "suggestions",
    }  # fmt: skip
    assert required <= set(estimate)
    assert (estimate["model"], estimate["gpu"], estimate["settings"]) == ("LTX-2.3", "h100", "--base-weights bf16")
    assert isinstance(estimate["fits"], bool) and estimate["fits"]
    assert set(estimate["parts"]) == set(PARTS)
    assert sum(estimate["parts"].values()) == estimate["training_peak_bytes"]
    assert estimate["peak_memory_bytes"] == max(estimate["training_peak_bytes"], estimate["encoding_peak_bytes"])
    assert estimate["billable_units"] == 500
    assert [gpu["gpu"] for gpu in estimate["gpus"]] == ["h100", "h200", "a100-80gb", "l40s", "rtx4090", "rtx5090"]


@pytest.mark.integration
def test_unset_with_audio_counts_as_audio(runs):
    audio, video_only = json.loads(runs["json"][1]), json.loads(runs["video_only"][1])
    assert audio["tokens_per_sample"] > video_only["tokens_per_sample"]
    assert audio["parts"]["lora_and_optimizer"] > video_only["parts"]["lora_and_optimizer"]


@pytest.mark.integration
def test_the_report_shows_parts_fit_time_and_the_other_gpus(runs):
    code, out, _ = runs["h100"]
    estimate = json.loads(runs["json"][1])
    assert code == ExitCode.OK
    assert "LTX-2.3 on NVIDIA H100 80GB (SXM) (h100), service settings: --base-weights bf16" in out
    for label in ("base weights", "LoRA and optimizer", "activations", "encoders", "workspace", "encoding phase peak"):
        assert label in out
    assert f"{estimate['peak_memory_bytes'] / 2**30:.2f} GiB  of 79.65 GiB: fits" in out
    assert f"{estimate['seconds_per_step']:.2f} s/step" in out
    assert "billable units: 500" in out
    table = out.split("the same job on the other GPUs:")[1]
    assert all(name in table for name in ("h200", "a100-80gb", "l40s", "rtx4090", "rtx5090"))


@pytest.mark.integration
def test_a_job_that_does_not_fit_says_so_and_why(runs):
    code, out, _ = runs["rtx4090"]
    assert code == ExitCode.OK  # the estimate was made; fitting is its answer, not an error
    assert "of 23.99 GiB: does NOT fit" in out
    # the text encoder alone is over a 24 GB card: no memory setting helps
    assert "no setting of --base-weights or --offload-blocks makes it fit the rtx4090" in out


@pytest.mark.integration
def test_settings_that_would_make_it_fit_are_suggested(runs):
    estimate = json.loads(runs["rtx5090"][1])
    assert not estimate["fits"] and estimate["suggestions"]
    code, out, _ = runs["rtx5090_report"]
    assert code == ExitCode.OK
    assert "settings under which it fits the rtx5090, fastest first:" in out
    for suggestion in estimate["suggestions"]:
        assert suggestion["peak_memory_bytes"] <= estimate["memory_bytes"]
        assert suggestion["settings"] in out
