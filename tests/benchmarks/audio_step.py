"""Training step time with and without audio on the tiny preset, in the same run (not a CI gate).

  python -m tests.benchmarks.audio_step [--frames 25] [--size 512] [--steps 40] [--reps 3]

One synthetic clip with a soundtrack is encoded once (video VAE, captions, audio VAE). Then LoRA
trainers run --steps steps video-only and jointly with audio, alternating --reps times; the median
step time of each (first 5 steps of each run dropped as warm-up) and their ratio are printed. One
torch thread, fp32 on the CPU, gradient checkpointing on, as the service runs by default.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from tests.training.conftest import striped_clip
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import choose_placement
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, VideoEncoder
from train_svc.training.trainer import LoraTrainer, TrainingSample

FPS = 24.0
WARM_UP_STEPS = 5


def make_sample(model_path, placement, frames: int, size: int) -> TrainingSample:
    clip = striped_clip(frames, size, size, base=(0.9, 0.4, 0.0), accent=(0.0, 0.2, 0.8), direction=1)
    seconds = frames / FPS
    t = np.arange(round(seconds * 16_000)) / 16_000
    audio = np.stack([np.sin(2 * np.pi * 330 * t), np.sin(2 * np.pi * 495 * t)]).astype(np.float32) * 0.5
    video_encoder, caption_encoder = VideoEncoder(model_path, placement), CaptionEncoder(model_path, placement)
    audio_encoder = AudioEncoder(model_path, placement)
    try:
        return TrainingSample(
            "bench",
            video_encoder.encode(clip, FPS),
            caption_encoder.encode("zqx a rising chord"),
            audio_encoder.encode(audio, 16_000, seconds),
        )
    finally:
        video_encoder.close()
        caption_encoder.close()
        audio_encoder.close()


def step_times(model_path, placement, sample: TrainingSample, *, audio: bool, steps: int) -> list[float]:
    trainer = LoraTrainer(model_path, placement, TrainConfig(rank=32, learning_rate=2e-4, steps=steps, audio=audio))
    times: list[float] = []
    trainer.train([sample], on_step=lambda report: times.append(report.step_seconds))
    return times[WARM_UP_STEPS:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = resolve_base_model(PRESET_NAME)
    placement = choose_placement("cpu", "fp32")
    sample = make_sample(model.path, placement, args.frames, args.size)
    print(
        f"sample: {args.frames} frames {args.size}x{args.size} -> {sample.latents.num_tokens} video tokens, "
        f"{sample.audio.num_tokens} audio tokens; rank 32, fp32, 1 thread",
        flush=True,
    )
    runs: dict[bool, list[float]] = {False: [], True: []}
    for rep in range(args.reps):
        for audio in (False, True) if rep % 2 == 0 else (True, False):
            times = step_times(model.path, placement, sample, audio=audio, steps=args.steps)
            runs[audio].append(statistics.median(times))
            print(f"  rep {rep + 1} {'video+audio' if audio else 'video only '}: {runs[audio][-1] * 1000:6.1f} ms/step")
    video_only, joint = statistics.median(runs[False]), statistics.median(runs[True])
    print(
        f"median step: video only {video_only * 1000:.1f} ms, video+audio {joint * 1000:.1f} ms, "
        f"ratio {joint / video_only:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
