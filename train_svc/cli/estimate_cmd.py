"""`ltx-trainer estimate`: what a request would need and take on a GPU, worked out here on the real LTX-2.3
(its committed configs, built on the meta device: no weights, no GPU and no running service needed).

The request is the one `train` takes (training_data_url may be absent: nothing is fetched); the memory
settings are the service's flags (--base-weights, --offload-blocks, --no-gradient-checkpointing,
--lora-targets, --preview-steps). Without --json a readable report goes to stdout; with --json exactly one
JSON object does (the estimator's `Estimate.as_json()`), and everything else goes to stderr. A bad request
or argument exits 2 (ExitCode.REFUSED) with every problem named.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.request.errors import InvalidRequest
from train_svc.cli.exit_codes import ExitCode
from train_svc.cli.report_table import aligned
from train_svc.estimate.gpus import GPUS

if TYPE_CHECKING:
    from train_svc.estimate.estimator import Estimate
    from train_svc.estimate.job_shape import JobShape

GIB = 1 << 30
# preflight.BASE_WEIGHTS, spelt out so that building the parser does not import torch (a test keeps them equal)
BASE_WEIGHTS = ("bf16", "int8", "fp8")
_PART_LABELS = {
    "base_weights": "base weights",
    "lora_and_optimizer": "LoRA and optimizer",
    "activations": "activations",
    "encoders": "encoders",
    "workspace": "workspace",
}


def add_estimate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "estimate",
        help="estimate a request's GPU memory, time and cost on the real LTX-2.3 (no service, no GPU needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("request", type=Path, help="REQUEST.json (hosted trainer input; training_data_url not needed)")
    p.add_argument("--gpu", default="h100", help=f"the GPU to estimate for: {', '.join(GPUS)} (default h100)")
    p.add_argument("--base-weights", choices=BASE_WEIGHTS, help="the frozen transformer's block weights (default bf16)")
    p.add_argument("--width", type=int, help="sample width in pixels instead of the bucket's (a multiple of 32)")
    p.add_argument("--height", type=int, help="sample height in pixels instead of the bucket's (a multiple of 32)")
    p.add_argument("--frames", type=int, help="frames per sample instead of number_of_frames (8k+1)")
    p.add_argument("--offload-blocks", type=int, default=0, help="transformer blocks kept in host memory (default 0)")
    p.add_argument(
        "--no-gradient-checkpointing",
        dest="gradient_checkpointing",
        action="store_false",
        help="keep every block's activations instead of recomputing them in backward",
    )
    p.add_argument("--lora-targets", choices=["attention", "attention+ff"], default="attention")
    p.add_argument("--preview-steps", type=int, default=30, help="denoising steps of each validation preview")
    p.add_argument("--json", action="store_true", help="print the estimate as one JSON object, nothing else")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return ExitCode.REFUSED


def _read_request(path: Path) -> dict[str, Any] | str:
    """The parsed JSON object, or what is wrong with the file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"cannot read request {path}: {exc}"
    if not isinstance(data, dict):
        return f"request {path} must hold a JSON object, got {type(data).__name__}"
    return data


def run_estimate(args: argparse.Namespace) -> int:
    from shared.request.json_input import input_from_json
    from shared.request.validate import resolve
    from train_svc.estimate.job_shape import JobShape
    from train_svc.estimate.model_spec import ModelSpec
    from train_svc.estimate.preflight import PreflightQuestion, check_question, gpu_plan, preflight
    from train_svc.generation.request import STEPS_MAX, STEPS_MIN

    data = _read_request(args.request)
    if isinstance(data, str):
        return _error(data)
    problems: list[str] = []
    settings = None
    try:
        settings = resolve(input_from_json(data, url_required=False), url_required=False)
    except InvalidRequest as exc:
        problems += [f"{args.request}: {violation}" for violation in exc.violations]
    question = PreflightQuestion(args.gpu, args.base_weights, args.width, args.height, args.frames)
    problems += [f"--{name.replace('_', '-')}: {why}" for name, why in check_question(question).items()]
    spec = ModelSpec.real()
    blocks = int(spec.configs["transformer"]["num_layers"])
    if not 0 <= args.offload_blocks <= blocks:
        problems.append(
            f"--offload-blocks: must be between 0 and {blocks}, the model's blocks (got {args.offload_blocks})"
        )
    elif args.offload_blocks and not args.gradient_checkpointing:
        problems.append("--offload-blocks: needs gradient checkpointing (drop --no-gradient-checkpointing)")
    if not STEPS_MIN <= args.preview_steps <= STEPS_MAX:
        problems.append(f"--preview-steps: must be between {STEPS_MIN} and {STEPS_MAX} (got {args.preview_steps})")
    if problems or settings is None:
        count = len(problems)
        return _error(
            f"invalid estimate request: {count} problem{'s' if count > 1 else ''}\n  " + "\n  ".join(problems)
        )

    _quiet_model_libraries()
    shape = JobShape.of_settings(
        settings, feed_forward=args.lora_targets == "attention+ff", preview_steps=args.preview_steps
    )
    plan = gpu_plan("auto", "auto", args.gradient_checkpointing, args.offload_blocks)
    print(f"estimating on {spec.name} (the first estimate traces the step: ~10 s)...", file=sys.stderr)
    estimate = preflight(spec, shape, plan, question)
    if args.json:
        print(json.dumps(estimate.as_json(), indent=2))
    else:
        print(render(estimate, shape.resized(args.width, args.height, args.frames)))
    return ExitCode.OK


def _quiet_model_libraries() -> None:
    from train_svc.models.library_noise import quiet_model_libraries

    quiet_model_libraries()


def gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def _table(rows: Sequence[tuple[str, ...]], indent: str = "  ") -> list[str]:
    return [indent + line for line in aligned(rows)]


def label(text: str) -> str:
    return f"  {text:<22}"


def render(estimate: Estimate, shape: JobShape) -> str:
    """The estimate as a readable report; `shape` is the job it was made for (as resized)."""
    gpu = GPUS[estimate.gpu]
    audio = "with audio" if shape.with_audio else "video only"
    lines = [
        f"{estimate.model} on {gpu.label} ({gpu.name}), service settings: {estimate.settings}",
        f"job: {shape.width}x{shape.height}, {shape.frames} frames at {shape.frame_rate:g} fps, {audio}, "
        f"rank {shape.rank}, {shape.steps} steps, batch {shape.batch_size}, "
        f"{shape.validation_prompts} validation prompt(s); {estimate.tokens_per_sample:,} tokens per sample",
        "",
        "memory at the training step's peak:",
    ]
    lines += [f"{label(_PART_LABELS.get(name, name))}{gib(size):>12}" for name, size in estimate.parts.items()]
    lines.append(f"{label('training peak')}{gib(estimate.training_peak_bytes):>12}")
    lines.append(
        f"{label('encoding phase peak')}{gib(estimate.encoding_peak_bytes):>12}"
        "  (text encoder, connectors, VAEs; before training)"
    )
    verdict = "fits" if estimate.fits else "does NOT fit"
    if not estimate.fits and estimate.peak_memory_bytes <= gpu.memory_bytes:
        verdict = "fits, but does NOT run there (its base weights)"
    lines.append(f"{label('peak')}{gib(estimate.peak_memory_bytes):>12}  of {gib(estimate.memory_bytes)}: {verdict}")
    lines += [
        "",
        f"time: {estimate.seconds_per_step:.2f} s/step, {duration(estimate.total_seconds)} in all "
        f"({shape.steps} steps{' and the previews' if shape.preview_renders else ''})",
        f"billable units: {estimate.billable_units}",
    ]
    others = [t for t in estimate.gpus if t.gpu != estimate.gpu]
    if others:
        rows = [("gpu", "memory", "fits", "s/step", "total")]
        rows += [
            (
                t.gpu,
                gib(GPUS[t.gpu].memory_bytes),
                "yes" if t.fits else "no",
                f"{t.seconds_per_step:.2f}",
                duration(t.total_seconds),
            )
            for t in others
        ]
        lines += ["", "the same job on the other GPUs:", *_table(rows)]
    if not estimate.fits:
        lines += ["", *_not_fitting(estimate)]
    return "\n".join(lines)


def _not_fitting(estimate: Estimate) -> list[str]:
    gpu = GPUS[estimate.gpu]
    lines = []
    if estimate.peak_memory_bytes <= gpu.memory_bytes and "--base-weights fp8" in estimate.settings:
        lines.append(f"fp8 base weights need a GPU of compute capability 8.9 or newer; the {gpu.name} is older")
    if estimate.suggestions:
        lines.append(f"settings under which it fits the {gpu.name}, fastest first:")
        lines += _table(
            [("service settings", "peak", "s/step")]
            + [(s.settings, gib(s.peak_memory_bytes), f"{s.seconds_per_step:.2f}") for s in estimate.suggestions]
        )
    elif estimate.encoding_peak_bytes > gpu.memory_bytes:
        lines.append(
            f"no setting of --base-weights or --offload-blocks makes it fit the {gpu.name}: encoding the dataset "
            f"alone needs {gib(estimate.encoding_peak_bytes)} of its {gib(gpu.memory_bytes)}"
        )
    else:
        lines.append(f"no setting of --base-weights or --offload-blocks makes it fit the {gpu.name}")
    return lines
