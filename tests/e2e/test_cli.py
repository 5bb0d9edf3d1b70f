"""The ltx-trainer command line, run as a user runs it: a subprocess, real services, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from shared.bundle import path_from_uri
from shared.demo_dataset import make_demo_dataset

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "train_svc.cli"]


def _run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def _request(path: Path, **fields) -> Path:
    path.write_text(json.dumps(fields))
    return path


def test_train_against_a_running_service_writes_the_outputs(services, tmp_path):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=3, seconds=1.0, size=(128, 128))
    request = _request(
        tmp_path / "request.json",
        training_data_url=str(archive),
        trigger_phrase="sepiatone",
        rank=8,
        number_of_steps=100,
        number_of_frames=9,
        resolution="low",
        aspect_ratio="16:9",
    )
    out = tmp_path / "out"
    done = _run(["train", str(request), "--out", str(out), "--target", services.training_target], env=services.env())
    assert done.returncode == 0, done.stderr
    assert "[SUCCEEDED]" in done.stderr and "step 100/100" in done.stderr
    table = done.stderr.split("dataset report:\n", 1)[1].split("\n[TRAINING]", 1)[0].splitlines()
    assert table[0].split() == ["file", "result", "samples", "frames", "fps", "size", "cuts", "caption", "audio", "why"]
    rows = {line.split()[0]: line.split() for line in table[2:-1]}
    assert set(rows) == {"set_a/clip.mp4", "set_b/clip.mp4", "set_a/bouncing_box.mp4"}
    assert rows["set_b/clip.mp4"][1:9] == ["used", "1", "9", "24->24", "128x128->512x288", "0", "yes", "yes"]
    assert table[-1] == "3 files: 3 used, 0 skipped, 0 ignored; 3 samples"
    expected = {"lora.safetensors", "config.json", "dataset_report.json", "result.json", "loss.png", "tensorboard"}
    assert {p.name for p in out.iterdir()} == expected
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    result = json.loads((out / "result.json").read_text())
    assert path_from_uri(result["lora_file"]["url"]) == (out / "lora.safetensors").resolve()
    assert result["billable_units"] == 100
    with safe_open(str(out / "lora.safetensors"), framework="pt") as fh:
        assert fh.metadata()["trigger_phrase"] == "sepiatone"


def test_invalid_request_exits_nonzero_listing_every_bad_field(services, tmp_path):
    request = _request(
        tmp_path / "bad.json", training_data_url="x.zip", rank=12, number_of_steps=150, frame_rate=70, stg_scale=9
    )
    args = ["train", str(request), "--out", str(tmp_path / "out"), "--target", services.training_target]
    done = _run(args, env=services.env())
    assert done.returncode == 2
    for field in ("rank", "number_of_steps", "frame_rate", "stg_scale"):
        assert f"  {field}:" in done.stderr, done.stderr
    assert "INVALID_ARGUMENT" in done.stderr


def test_json_problems_are_all_reported_before_anything_is_sent(tmp_path):
    request = _request(tmp_path / "typo.json", training_data_url="x.zip", rnak=32, number_of_steps="many")
    done = _run(["train", str(request), "--out", str(tmp_path / "out"), "--target", "127.0.0.1:1"])
    assert done.returncode == 2
    assert "rnak" in done.stderr and "number_of_steps" in done.stderr


def test_without_base_model_the_real_model_is_required_and_the_error_says_what_to_do(tmp_path):
    request = _request(tmp_path / "r.json", training_data_url=str(tmp_path / "x.zip"))
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "LTX_BASE_MODEL": ""}
    started = time.monotonic()
    done = _run(["train", str(request), "--out", str(tmp_path / "out"), "--storage", str(tmp_path / "s")], env=env)
    assert done.returncode == 2
    assert "diffusers/LTX-2.3-Diffusers" in done.stderr
    assert "--base-model ltx2.3-tiny" in done.stderr
    assert time.monotonic() - started < 60, "must fail fast, not wait on the network"


def test_demo_runs_end_to_end_in_process(tmp_path):
    done = _run(["demo", "--out", str(tmp_path / "demo")])
    assert done.returncode == 0, done.stderr
    outputs = tmp_path / "demo" / "outputs"
    assert (outputs / "lora.safetensors").stat().st_size > 0
    assert json.loads((outputs / "result.json").read_text())["billable_units"] == 100
