"""What validation previews cost on the tiny preset (not a CI gate; prints figures).

  python -m tests.benchmarks.preview_cost [--preview-steps 30] [--run-steps 2000] [--measured-steps 10]
      [--train-frames 89] [--train-size 768x768] [--preview-frames 89] [--preview-size 960x960]

Renders one preview at the default validation settings (89 frames, high 1:1 = 960x960, 24 fps, CFG +
STG + modality guidance) with `--preview-steps` denoising steps, through the same renderer, mp4 writer
and JPEG frames as a job, timing each part. Then times training steps at the default training settings
(89 frames, medium 1:1 = 768x768, rank 32, gradient checkpointing; video only) and gives the share of
the wall time a `--run-steps` run with two validation prompts (5 previews each, see
train_svc/validation/schedule.py) spends on previews: measured per-preview and per-step times,
multiplied out, since a full default run takes hours on a CPU. The sizes can be changed (smaller, for
the tiny test); the defaults are the service's.

Preconditions, checked as it runs (PreconditionFailed when false): torch runs on one thread; the
trainer ran --measured-steps steps; the renderer went through --preview-steps denoising steps and gave
the asked frames at the asked size; the mp4 holds those frames; the JPEG frames were made.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import torch

from shared.request import defaults
from shared.request.defaults import pixel_size
from tests.benchmarks.preconditions import Preconditions
from tests.training.conftest import striped_clip
from train_svc.generation.mp4 import write_mp4
from train_svc.generation.request import GenerationRequest
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import choose_placement, limit_cpu_threads
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, VideoEncoder
from train_svc.training.trainer import LoraTrainer, TrainingSample
from train_svc.validation.renderer import EncodedPrompts, PreviewRenderer
from train_svc.validation.schedule import preview_schedule
from train_svc.validation.thumbnails import FRAMES as JPEG_FRAMES
from train_svc.validation.thumbnails import jpeg_frames

PROMPTS = 2
CAPTION = "zqx magenta stripes drifting right"
ONE_THREAD = "torch runs on one thread"
TRAINED = "the trainer ran the measured steps"
DENOISED = "the preview went through every denoising step and gave the asked frames at the asked size"
WRITTEN = "the mp4 holds every frame and the JPEG frames were made"


@dataclass(frozen=True)
class PreviewCost:
    preview_s: float  # render + mp4 + jpeg
    render_s: float
    mp4_s: float
    step_s: float  # median training step
    steps_timed: int
    request: GenerationRequest


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def measure_preview_cost(
    *,
    preview_steps: int,
    measured_steps: int,
    train_frames: int,
    train_size: tuple[int, int],
    preview_frames: int,
    preview_size: tuple[int, int],
    checks: Preconditions,
) -> PreviewCost:
    limit_cpu_threads(1)
    checks.require(ONE_THREAD, torch.get_num_threads() == 1, f"{torch.get_num_threads()} threads")
    model = resolve_base_model(PRESET_NAME)
    placement = choose_placement("cpu", "fp32")

    width, height = train_size
    clip = striped_clip(train_frames, height, width, base=(1.0, 0.0, 0.85), accent=(0, 0.35, 0), direction=1)
    videos, captions = VideoEncoder(model.path, placement), CaptionEncoder(model.path, placement)
    sample = TrainingSample("clip", videos.encode(clip, defaults.FRAME_RATE), captions.encode(CAPTION))
    prompts = EncodedPrompts(
        (captions.text_states(CAPTION),), captions.text_states(defaults.VALIDATION_NEGATIVE_PROMPT)
    )
    videos.close()
    captions.close()

    trainer = LoraTrainer(model.path, placement, TrainConfig(defaults.RANK, defaults.LEARNING_RATE, measured_steps))
    step_seconds: list[float] = []
    trainer.train([sample], on_step=lambda report: step_seconds.append(report.step_seconds))
    checks.require(TRAINED, len(step_seconds) == measured_steps, f"{len(step_seconds)} of {measured_steps} steps")
    step = statistics.median(step_seconds[1:] or step_seconds)

    vw, vh = preview_size
    request = GenerationRequest(
        prompt=CAPTION,
        negative_prompt=defaults.VALIDATION_NEGATIVE_PROMPT,
        num_frames=preview_frames,
        frame_rate=defaults.VALIDATION_FRAME_RATE,
        width=vw,
        height=vh,
        steps=preview_steps,
        stg_scale=defaults.STG_SCALE,
    )
    renderer = PreviewRenderer(model.path, placement, trainer.transformer)
    denoised: list[int] = []  # one entry per denoising step (the renderer asks should_stop after each)
    started = time.perf_counter()
    video = renderer.render(request, prompts.prompts[0], prompts.negative, should_stop=lambda: denoised.append(1))
    rendered = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        mp4 = write_mp4(Path(folder) / "preview.mp4", video.frames, video.frame_rate, video.audio, video.sample_rate)
        written = time.perf_counter()
        jpegs = jpeg_frames(video.frames)
        preview = time.perf_counter() - started
        with av.open(str(mp4)) as container:
            mp4_frames = sum(1 for _ in container.decode(video=0))
    shape = (request.num_frames, vh, vw, 3)
    checks.require(
        DENOISED,
        len(denoised) == preview_steps and video.frames.shape == shape,
        f"{len(denoised)} of {preview_steps} steps; frames {video.frames.shape}, asked {shape}",
    )
    checks.require(
        WRITTEN,
        mp4_frames == request.num_frames
        and len(jpegs) == min(JPEG_FRAMES, request.num_frames)
        and all(j.startswith(b"\xff\xd8") for j in jpegs),
        f"mp4 decodes to {mp4_frames} frames of {request.num_frames}; {len(jpegs)} JPEGs",
    )
    return PreviewCost(preview, rendered - started, written - rendered, step, len(step_seconds), request)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    train_w, train_h = pixel_size(defaults.RESOLUTION, defaults.ASPECT_RATIO)
    preview_w, preview_h = pixel_size(defaults.VALIDATION_RESOLUTION, defaults.VALIDATION_ASPECT_RATIO)
    parser.add_argument("--preview-steps", type=int, default=30)
    parser.add_argument("--run-steps", type=int, default=defaults.NUMBER_OF_STEPS)
    parser.add_argument("--measured-steps", type=int, default=10)
    parser.add_argument("--train-frames", type=int, default=defaults.NUMBER_OF_FRAMES)
    parser.add_argument("--train-size", type=parse_size, default=(train_w, train_h))
    parser.add_argument("--preview-frames", type=int, default=defaults.VALIDATION_NUMBER_OF_FRAMES)
    parser.add_argument("--preview-size", type=parse_size, default=(preview_w, preview_h))
    args = parser.parse_args(argv)
    checks = Preconditions("preview_cost")
    cost = measure_preview_cost(
        preview_steps=args.preview_steps,
        measured_steps=args.measured_steps,
        train_frames=args.train_frames,
        train_size=args.train_size,
        preview_frames=args.preview_frames,
        preview_size=args.preview_size,
        checks=checks,
    )
    count = PROMPTS * len(preview_schedule(args.run_steps))
    training, previews = args.run_steps * cost.step_s, count * cost.preview_s
    r = cost.request
    print(f"tiny preset, CPU fp32, torch threads {torch.get_num_threads()}")
    print(
        f"preview {r.num_frames} frames {r.width}x{r.height}, {args.preview_steps} steps: {cost.preview_s:.1f} s "
        f"(pipeline {cost.render_s:.1f} s, mp4 {cost.mp4_s:.1f} s, "
        f"jpeg {cost.preview_s - cost.render_s - cost.mp4_s:.2f} s)"
    )
    width, height = args.train_size
    print(
        f"training step {args.train_frames} frames {width}x{height}: {cost.step_s:.3f} s (median of {cost.steps_timed})"
    )
    print(
        f"{args.run_steps}-step run, {PROMPTS} prompts -> {count} previews: training {training / 60:.1f} min, "
        f"previews {previews / 60:.1f} min, previews' share of wall time {previews / (training + previews):.1%}"
    )
    print(checks.summary())


if __name__ == "__main__":
    main()
