"""Training step time with and without audio on the tiny preset, in the same run (not a CI gate).

  python -m tests.benchmarks.audio_step [--frames 25] [--size 512] [--steps 40] [--reps 3]

One synthetic clip with a soundtrack is encoded once (video VAE, captions, audio VAE). Then LoRA
trainers run --steps steps video-only and jointly with audio, alternating --reps times; the median
step time of each (first 5 steps of each run dropped as warm-up) and their ratio are printed. One
torch thread, fp32 on the CPU, gradient checkpointing on, as the service runs by default.

Preconditions, checked as it runs (PreconditionFailed when false): torch runs on one thread; the
sample has video and audio tokens; every run trained --steps steps, more than the warm-up; the joint
runs adapted the audio layers too and had an audio loss on every step, the video-only runs neither.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

import numpy as np
import torch

from tests.benchmarks.preconditions import Preconditions
from tests.training.conftest import striped_clip
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import choose_placement
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, VideoEncoder
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample

FPS = 24.0
WARM_UP_STEPS = 5
ONE_THREAD = "torch runs on one thread"
SAMPLE_TOKENS = "the sample has video and audio tokens"
ALL_STEPS = "every run trained the asked steps, more than the warm-up"
AUDIO_TRAINED = "joint runs adapted the audio layers and had an audio loss every step; video-only runs neither"


@dataclass(frozen=True)
class AudioStepResult:
    video_tokens: int
    audio_tokens: int
    runs: dict[bool, list[float]]  # audio -> median step seconds of each run

    @property
    def video_only_s(self) -> float:
        return statistics.median(self.runs[False])

    @property
    def joint_s(self) -> float:
        return statistics.median(self.runs[True])


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


def step_times(
    model_path, placement, sample: TrainingSample, *, audio: bool, steps: int, checks: Preconditions
) -> list[float]:
    trainer = LoraTrainer(model_path, placement, TrainConfig(rank=32, learning_rate=2e-4, steps=steps, audio=audio))
    reports: list[StepReport] = []
    trainer.train([sample], on_step=reports.append)
    checks.require(ALL_STEPS, len(reports) == steps > WARM_UP_STEPS, f"{len(reports)} steps of {steps}")
    audio_layers = [name for name in trainer.target_modules if "audio" in name]
    audio_losses = [r.audio_loss for r in reports]
    if audio:
        trained = bool(audio_layers) and all(loss > 0 for loss in audio_losses)
    else:
        trained = not audio_layers and not any(audio_losses)
    checks.require(
        AUDIO_TRAINED, trained, f"audio={audio}: {len(audio_layers)} audio layers adapted, audio losses {audio_losses}"
    )
    return [r.step_seconds for r in reports[WARM_UP_STEPS:]]


def measure_audio_step(*, frames: int, size: int, steps: int, reps: int, checks: Preconditions) -> AudioStepResult:
    checks.require(ONE_THREAD, torch.get_num_threads() == 1, f"{torch.get_num_threads()} threads")
    model = resolve_base_model(PRESET_NAME)
    placement = choose_placement("cpu", "fp32")
    sample = make_sample(model.path, placement, frames, size)
    assert sample.audio is not None
    checks.require(
        SAMPLE_TOKENS,
        sample.latents.num_tokens > 0 and sample.audio.num_tokens > 0,
        f"{sample.latents.num_tokens} video, {sample.audio.num_tokens} audio tokens",
    )
    print(
        f"sample: {frames} frames {size}x{size} -> {sample.latents.num_tokens} video tokens, "
        f"{sample.audio.num_tokens} audio tokens; rank 32, fp32, 1 thread",
        flush=True,
    )
    runs: dict[bool, list[float]] = {False: [], True: []}
    for rep in range(reps):
        for audio in (False, True) if rep % 2 == 0 else (True, False):
            times = step_times(model.path, placement, sample, audio=audio, steps=steps, checks=checks)
            runs[audio].append(statistics.median(times))
            print(f"  rep {rep + 1} {'video+audio' if audio else 'video only '}: {runs[audio][-1] * 1000:6.1f} ms/step")
    return AudioStepResult(sample.latents.num_tokens, sample.audio.num_tokens, runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checks = Preconditions("audio_step")
    result = measure_audio_step(frames=args.frames, size=args.size, steps=args.steps, reps=args.reps, checks=checks)
    video_only, joint = result.video_only_s, result.joint_s
    print(
        f"median step: video only {video_only * 1000:.1f} ms, video+audio {joint * 1000:.1f} ms, "
        f"ratio {joint / video_only:.3f}"
    )
    print(checks.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
