"""`ltx-trainer generate`: one video with sound from a base model and an optional LoRA, written as an mp4."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from shared.request import defaults
from shared.request.defaults import AspectRatio, Resolution

# Exit codes, as for `train`: 0 success, 1 generation failed, 2 invalid input.
EXIT_FAILED = 1
EXIT_INVALID = 2


def add_generate_parser(sub: argparse._SubParsersAction) -> None:
    from train_svc.generation.request import (
        AUDIO_GUIDANCE_SCALE,
        DEFAULT_NEGATIVE_PROMPT,
        GUIDANCE_SCALE,
        GenerationRequest,
    )

    p = sub.add_parser("generate", help="generate a video with sound (mp4), optionally through a trained LoRA")
    p.add_argument("--base-model", help="diffusers LTX-2.3 dir, hub id, or ltx2.3-tiny (default: LTX_BASE_MODEL)")
    p.add_argument("--lora", type=Path, help="LoRA file (lora.safetensors from `train`)")
    p.add_argument("--lora-scale", type=float, default=1.0, help="strength of the LoRA; 0 gives the base model")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default=DEFAULT_NEGATIVE_PROMPT, help="default: a built-in quality prompt")
    p.add_argument("--out", type=Path, required=True, help="FILE.mp4 to write")
    p.add_argument("--seed", type=int, default=GenerationRequest.seed)
    p.add_argument("--num-frames", type=int, default=defaults.NUMBER_OF_FRAMES, help="9..257, snapped down to 8k+1")
    p.add_argument("--frame-rate", type=int, default=defaults.FRAME_RATE)
    p.add_argument("--resolution", choices=[r.value for r in Resolution], default=Resolution.MEDIUM.value)
    p.add_argument("--aspect-ratio", choices=[a.value for a in AspectRatio], default=AspectRatio.SQUARE_1_1.value)
    p.add_argument("--steps", type=int, default=GenerationRequest.steps)
    p.add_argument("--guidance", type=float, default=GUIDANCE_SCALE, help="video CFG scale; 1 turns it off")
    p.add_argument("--audio-guidance", type=float, default=AUDIO_GUIDANCE_SCALE, help="audio CFG scale; 1 = off")
    p.add_argument("--stg-scale", type=float, default=defaults.STG_SCALE, help="spatio-temporal guidance; 0 = off")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument(
        "--cpu-threads",
        type=int,
        default=int(os.environ.get("LTX_CPU_THREADS") or "1"),
        help="torch CPU threads, as for the service (LTX_CPU_THREADS, 1)",
    )


def _error(message: str, code: int = EXIT_INVALID) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _quiet_libraries() -> None:
    """diffusers and transformers print loading bars and notices; this command prints its own progress."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()


def run_generate(args: argparse.Namespace) -> int:
    from train_svc.generation.generator import Generator
    from train_svc.generation.lora_check import LoraFileError
    from train_svc.generation.mp4 import write_mp4
    from train_svc.generation.request import GenerationRequest, InvalidGenerationRequest
    from train_svc.models.base_model import BaseModelNotFound, default_base_model, resolve_base_model
    from train_svc.models.device import choose_placement, limit_cpu_threads

    if args.out.suffix.lower() != ".mp4":
        return _error(f"--out must name an .mp4 file (got {args.out})")
    if args.lora is not None and not args.lora.is_file():
        return _error(f"LoRA file {args.lora} does not exist")
    width, height = defaults.pixel_size(Resolution(args.resolution), AspectRatio(args.aspect_ratio))
    try:
        request = GenerationRequest(
            prompt=args.prompt,
            negative_prompt=args.negative_prompt,
            seed=args.seed,
            num_frames=args.num_frames,
            frame_rate=args.frame_rate,
            width=width,
            height=height,
            steps=args.steps,
            guidance_scale=args.guidance,
            audio_guidance_scale=args.audio_guidance,
            stg_scale=args.stg_scale,
            lora_path=args.lora,
            lora_scale=args.lora_scale,
        )
        placement = choose_placement(args.device, args.precision)
        limit_cpu_threads(args.cpu_threads)
        base_model = resolve_base_model(args.base_model or default_base_model())
    except InvalidGenerationRequest as exc:
        return _error("invalid values:\n" + "\n".join(f"  {field}: {message}" for field, message in exc.problems))
    except (ValueError, BaseModelNotFound) as exc:
        return _error(str(exc))

    _quiet_libraries()
    print(f"loading {base_model.name} ({base_model.path}) on {placement.device}", file=sys.stderr)

    def progress(step: int, total: int) -> None:
        per_step = (time.perf_counter() - started) / step
        print(f"step {step}/{total} ({per_step:.2f} s/step, ~{per_step * (total - step):.0f} s left)", file=sys.stderr)

    try:
        generator = Generator(base_model, placement)
        lora = f", LoRA {request.lora_path} x{request.lora_scale:g}" if request.lora_path else ""
        print(
            f"generating {request.num_frames} frames at {request.frame_rate} fps, {width}x{height}, "
            f"{request.steps} steps{lora}",
            file=sys.stderr,
        )
        started = time.perf_counter()
        video = generator.generate(request, on_step=progress)
    except LoraFileError as exc:
        return _error(str(exc))
    except Exception as exc:  # the model's own failures (out of memory, corrupt weights): one line, no traceback
        return _error(f"generation failed: {type(exc).__name__}: {exc}", EXIT_FAILED)
    try:
        write_mp4(args.out, video.frames, video.frame_rate, video.audio, video.sample_rate)
    except Exception as exc:  # disk full, no permission, an encoder refusing the stream
        return _error(f"could not write {args.out}: {exc}", EXIT_FAILED)
    print(
        f"wrote {args.out}: {video.frames.shape[0]} frames at {video.frame_rate} fps ({video.duration_s:.2f} s), "
        f"{video.frames.shape[2]}x{video.frames.shape[1]}, audio {video.sample_rate} Hz, "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 0
