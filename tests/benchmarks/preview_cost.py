"""What validation previews cost on the tiny preset (not a CI gate; prints figures).

  python -m tests.benchmarks.preview_cost [--preview-steps 30] [--run-steps 2000] [--measured-steps 10]

Renders one preview at the default validation settings (89 frames, high 1:1 = 960x960, 24 fps, CFG +
STG + modality guidance) with `--preview-steps` denoising steps, through the same renderer, mp4 writer
and JPEG frames as a job, timing each part. Then times training steps at the default training settings
(89 frames, medium 1:1 = 768x768, rank 32, gradient checkpointing; video only) and gives the share of
the wall time a `--run-steps` run with two validation prompts (5 previews each, see
train_svc/validation/schedule.py) spends on previews: measured per-preview and per-step times,
multiplied out, since a full default run takes hours on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from shared.request import defaults
from shared.request.defaults import pixel_size
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
from train_svc.validation.thumbnails import jpeg_frames

PROMPTS = 2
CAPTION = "zqx magenta stripes drifting right"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preview-steps", type=int, default=30)
    parser.add_argument("--run-steps", type=int, default=defaults.NUMBER_OF_STEPS)
    parser.add_argument("--measured-steps", type=int, default=10)
    args = parser.parse_args()
    limit_cpu_threads(1)
    model = resolve_base_model(PRESET_NAME)
    placement = choose_placement("cpu", "fp32")

    width, height = pixel_size(defaults.RESOLUTION, defaults.ASPECT_RATIO)
    clip = striped_clip(
        defaults.NUMBER_OF_FRAMES, height, width, base=(1.0, 0.0, 0.85), accent=(0, 0.35, 0), direction=1
    )
    videos, captions = VideoEncoder(model.path, placement), CaptionEncoder(model.path, placement)
    sample = TrainingSample("clip", videos.encode(clip, defaults.FRAME_RATE), captions.encode(CAPTION))
    prompts = EncodedPrompts(
        (captions.text_states(CAPTION),), captions.text_states(defaults.VALIDATION_NEGATIVE_PROMPT)
    )
    videos.close()
    captions.close()

    trainer = LoraTrainer(
        model.path, placement, TrainConfig(defaults.RANK, defaults.LEARNING_RATE, args.measured_steps)
    )
    step_seconds: list[float] = []
    trainer.train([sample], on_step=lambda report: step_seconds.append(report.step_seconds))
    step = statistics.median(step_seconds[1:] or step_seconds)

    vw, vh = pixel_size(defaults.VALIDATION_RESOLUTION, defaults.VALIDATION_ASPECT_RATIO)
    request = GenerationRequest(
        prompt=CAPTION,
        negative_prompt=defaults.VALIDATION_NEGATIVE_PROMPT,
        num_frames=defaults.VALIDATION_NUMBER_OF_FRAMES,
        frame_rate=defaults.VALIDATION_FRAME_RATE,
        width=vw,
        height=vh,
        steps=args.preview_steps,
        stg_scale=defaults.STG_SCALE,
    )
    renderer = PreviewRenderer(model.path, placement, trainer.transformer)
    started = time.perf_counter()
    video = renderer.render(request, prompts.prompts[0], prompts.negative)
    rendered = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        write_mp4(Path(folder) / "preview.mp4", video.frames, video.frame_rate, video.audio, video.sample_rate)
    written = time.perf_counter()
    jpeg_frames(video.frames)
    preview = time.perf_counter() - started

    count = PROMPTS * len(preview_schedule(args.run_steps))
    training, previews = args.run_steps * step, count * preview
    print(f"tiny preset, CPU fp32, torch threads {torch.get_num_threads()}")
    print(
        f"preview {request.num_frames} frames {vw}x{vh}, {args.preview_steps} steps: {preview:.1f} s "
        f"(pipeline {rendered - started:.1f} s, mp4 {written - rendered:.1f} s, "
        f"jpeg {preview - (written - started):.2f} s)"
    )
    print(
        f"training step {defaults.NUMBER_OF_FRAMES} frames {width}x{height}: {step:.3f} s "
        f"(median of {len(step_seconds)})"
    )
    print(
        f"{args.run_steps}-step run, {PROMPTS} prompts -> {count} previews: training {training / 60:.1f} min, "
        f"previews {previews / 60:.1f} min, previews' share of wall time {previews / (training + previews):.1%}"
    )


if __name__ == "__main__":
    main()
