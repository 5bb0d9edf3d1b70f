"""The stored loss baseline of the tiny preset: what it trains on, how it trains, and how to re-record it.

One short joint audio-video run of the real trainer (LoraTrainer.train, the loop the training service
runs) on fixed synthetic inputs: two striped clips with a steady two-tone soundtrack each, encoded by
the real video VAE, caption path and audio VAE, then trained on the CPU in fp32 with one torch thread
and a fixed seed. tests/training/test_loss_baseline.py re-runs it and compares every step's losses and
learning rate with tests/assets/loss_baseline_tiny.json.

Re-record only on purpose, after a change to the training numerics that is meant (a new recipe, a new
preset revision, a torch upgrade that moves the numbers), and say so in the change:

    .venv/bin/python -m tests.training.record_loss_baseline
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from tests.training.conftest import striped_clip
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import Placement, choose_placement
from train_svc.models.tiny_preset import PRESET_NAME, PRESET_REVISION
from train_svc.models.tiny_preset import SEED as PRESET_SEED
from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, VideoEncoder
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample

BASELINE = Path(__file__).resolve().parent.parent / "assets" / "loss_baseline_tiny.json"
RECORD_COMMAND = ".venv/bin/python -m tests.training.record_loss_baseline"
# A learning rate well above the service default (2e-4), so that over a few dozen steps the LoRA moves the
# losses visibly and a small change to the update (1% on the learning rate) shows in them.
CONFIG = TrainConfig(rank=8, learning_rate=5e-3, steps=36, seed=42, audio=True)
FRAMES, HEIGHT, WIDTH, FPS = 17, 64, 64, 24.0
SAMPLE_RATE = 16_000
# (caption, base colour, accent colour, stripe direction, tone in Hz)
LOOKS = (
    ("zqx blue stripes drifting right over a low hum", (0.1, 0.2, 1.0), (0.9, 0.6, 0.0), 1, 220.0),
    ("zqx orange stripes drifting left over a high whistle", (0.9, 0.4, 0.0), (0.0, 0.2, 0.8), -1, 660.0),
)
COLUMNS = ("loss", "video_loss", "audio_loss", "learning_rate")


def recipe() -> dict:
    """Everything that decides the recorded numbers, apart from the code and the library versions."""
    return {
        "preset": {"name": PRESET_NAME, "revision": PRESET_REVISION, "seed": PRESET_SEED},
        "config": dataclasses.asdict(CONFIG),
        "device": "cpu",
        "precision": "fp32",
        "torch_threads": 1,
        "inputs": {
            "frames": FRAMES,
            "height": HEIGHT,
            "width": WIDTH,
            "fps": FPS,
            "audio_sample_rate": SAMPLE_RATE,
            "clips": [
                {"caption": caption, "base": base, "accent": accent, "direction": direction, "tone_hz": hz}
                for caption, base, accent, direction, hz in LOOKS
            ],
        },
    }


def two_tone(hz: float, seconds: float) -> np.ndarray:
    """float32 stereo [2, samples] at SAMPLE_RATE: hz on the left, a fifth above on the right."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.stack([0.4 * np.sin(2 * np.pi * hz * t), 0.3 * np.sin(2 * np.pi * 1.5 * hz * t)]).astype(np.float32)


def make_samples(
    video_encoder: VideoEncoder, caption_encoder: CaptionEncoder, audio_encoder: AudioEncoder
) -> list[TrainingSample]:
    duration = FRAMES / FPS
    samples = []
    for i, (caption, base, accent, direction, hz) in enumerate(LOOKS):
        clip = striped_clip(FRAMES, HEIGHT, WIDTH, base=base, accent=accent, direction=direction)
        samples.append(
            TrainingSample(
                f"clip{i}",
                video_encoder.encode(clip, FPS),
                caption_encoder.encode(caption),
                audio_encoder.encode(two_tone(hz, duration), SAMPLE_RATE, duration),
            )
        )
    return samples


def input_fingerprint(samples: list[TrainingSample]) -> dict[str, list[float]]:
    """Mean absolute value of each encoded tensor, to tell a change in the encoders from one in training."""
    out = {}
    for sample in samples:
        tensors = {
            "video": sample.latents.tokens,
            "audio": sample.audio.tokens,
            "caption_video": sample.caption.video,
            "caption_audio": sample.caption.audio,
        }
        for name, tensor in tensors.items():
            out[f"{sample.sample_id}.{name}"] = float(tensor.float().abs().mean())
    return out


def train(model_path: Path, placement: Placement, samples: list[TrainingSample]) -> list[dict[str, float]]:
    """The baseline run with the service's trainer: one row per step, {"step": n, then COLUMNS}."""
    reports: list[StepReport] = []
    LoraTrainer(model_path, placement, CONFIG).train(samples, on_step=reports.append)
    return [
        {"step": report.step, **{column: float(getattr(report, column)) for column in COLUMNS}} for report in reports
    ]


def _versions() -> dict[str, str]:
    import diffusers
    import peft
    import transformers

    return {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def record(out: Path) -> dict:
    """Build the preset into a fresh cache (as the test session does), run the baseline, write `out`."""
    torch.set_num_threads(1)
    os.environ["HF_HUB_OFFLINE"] = "1"
    placement = choose_placement("cpu", "fp32")
    with tempfile.TemporaryDirectory(prefix="ltx-loss-baseline-") as cache:
        model = resolve_base_model(PRESET_NAME, cache_dir=Path(cache))
        encoders = (
            VideoEncoder(model.path, placement),
            CaptionEncoder(model.path, placement),
            AudioEncoder(model.path, placement),
        )
        samples = make_samples(*encoders)
        for encoder in encoders:
            encoder.close()
        steps = train(model.path, placement, samples)
    document = {
        "about": "Per-step training losses of the ltx2.3-tiny preset; checked by tests/training/test_loss_baseline.py.",
        "record_with": RECORD_COMMAND,
        "recipe": recipe(),
        "versions": _versions(),
        "input_fingerprint": input_fingerprint(samples),
        "steps": steps,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_layout(document))
    return document


def _layout(document: dict) -> str:
    """Indented JSON with one line per step, so a re-recording reads as a per-step diff."""
    rows = ",\n".join(f"    {json.dumps(row)}" for row in document["steps"])
    text = json.dumps({**document, "steps": "STEPS"}, indent=2)
    return text.replace('"steps": "STEPS"', f'"steps": [\n{rows}\n  ]') + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=BASELINE, help=f"where to write (default {BASELINE})")
    args = parser.parse_args(argv)
    previous = json.loads(args.out.read_text())["steps"] if args.out.exists() else None
    steps = record(args.out)["steps"]
    print(f"wrote {args.out}: {len(steps)} steps, loss {steps[0]['loss']:.6f} -> {steps[-1]['loss']:.6f}")
    if previous is not None:
        changed = [new["step"] for old, new in zip(previous, steps, strict=False) if old != new]
        print(f"against the previous recording: {len(changed)} of {len(steps)} steps changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
