"""`ltx-trainer generate` run as a user runs it: a subprocess on the tiny preset, real LoRA and mp4 files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.lora_files import random_lora_state, write_test_lora
from train_svc.models.base_model import resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "train_svc.cli", "generate"]
# low 16:9 is 512x288: the pixel table's smallest bucket
SMALL = ["--base-model", PRESET_NAME, "--num-frames", "9", "--resolution", "low", "--aspect-ratio", "16:9"]
SMALL += ["--steps", "2", "--seed", "3", "--prompt", "zqx a lantern swinging in the rain"]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def _decode(path: Path) -> tuple[np.ndarray, dict]:
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        video, audio = container.streams.video[0], container.streams.audio[0]
        facts = {
            "rate": video.average_rate,
            "size": (video.codec_context.width, video.codec_context.height),
            "video_s": float(video.duration * video.time_base),
            "audio_s": float(audio.duration * audio.time_base),
            "sample_rate": audio.rate,
        }
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return frames, facts


@pytest.fixture(scope="module")
def lora_state(offline_model_cache):
    return random_lora_state(resolve_base_model(PRESET_NAME).path)


def test_generate_writes_an_mp4_and_the_lora_and_its_scale_act_on_it(tmp_path, lora_state):
    lora = write_test_lora(tmp_path / "lora.safetensors", lora_state)
    base = _run([*SMALL, "--out", str(tmp_path / "base.mp4")])
    assert base.returncode == 0, base.stderr
    assert "step 2/2" in base.stderr and "wrote" in base.stdout and "Traceback" not in base.stderr

    frames, facts = _decode(tmp_path / "base.mp4")
    assert frames.shape == (9, 288, 512, 3) and facts["size"] == (512, 288) and facts["rate"] == 24
    assert facts["sample_rate"] == 48000
    assert facts["video_s"] == pytest.approx(9 / 24, abs=1e-3) and abs(facts["audio_s"] - facts["video_s"]) < 1 / 24

    tuned = _run([*SMALL, "--lora", str(lora), "--out", str(tmp_path / "tuned.mp4")])
    assert tuned.returncode == 0, tuned.stderr
    zero = _run([*SMALL, "--lora", str(lora), "--lora-scale", "0", "--out", str(tmp_path / "zero.mp4")])
    assert zero.returncode == 0, zero.stderr
    assert np.array_equal(_decode(tmp_path / "zero.mp4")[0], frames)
    assert np.abs(_decode(tmp_path / "tuned.mp4")[0].astype(int) - frames.astype(int)).max() > 8


def test_bad_values_and_missing_lora_exit_nonzero_with_a_message(tmp_path):
    bad = _run([*SMALL, "--num-frames", "3", "--steps", "0", "--stg-scale", "9", "--out", str(tmp_path / "x.mp4")])
    assert bad.returncode == 2
    for field in ("number_of_frames", "steps", "stg_scale"):
        assert f"  {field}:" in bad.stderr, bad.stderr
    missing = _run([*SMALL, "--lora", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "x.mp4")])
    assert missing.returncode == 2 and "nope.safetensors does not exist" in missing.stderr
    not_mp4 = _run([*SMALL, "--out", str(tmp_path / "x.avi")])
    assert not_mp4.returncode == 2 and ".mp4" in not_mp4.stderr
    for done in (bad, missing, not_mp4):
        assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_lora_for_another_model_is_refused_without_a_traceback(tmp_path, lora_state):
    other = {k.replace("transformer_blocks.1.", "transformer_blocks.47."): v for k, v in lora_state.items()}
    lora = write_test_lora(tmp_path / "other.safetensors", other)
    done = _run([*SMALL, "--lora", str(lora), "--out", str(tmp_path / "x.mp4")])
    assert done.returncode == 2, done.stderr
    assert "does not match the base model" in done.stderr and "transformer_blocks.47" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x.mp4").exists()
