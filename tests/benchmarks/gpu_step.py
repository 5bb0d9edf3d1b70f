"""LoRA training steps of the LTX-2.3 transformer on a device, measured beside the estimator's prediction.

  python -m tests.benchmarks.gpu_step --device cuda [--size real] [--frames 89 --width 768 --height 768]
      [--audio] [--rank 32] [--base-weights bf16|int8|fp8] [--offload-blocks N]
      [--no-gradient-checkpointing] [--warmup 2] [--steps 5]
  python -m tests.benchmarks.gpu_step --device cpu --size tiny     (what the test suite runs)
  python -m tests.benchmarks.gpu_step --device meta --size real    (builds and steps the real size, no memory)

The transformer is built from its config with random weights directly on the device, no download: `real`
is the committed LTX-2.3 config (train_svc/models/real_configs), `tiny` the tiny preset's. Weights are
drawn from N(0, 0.02) in the base dtype (bf16 on CUDA and meta, fp32 on the CPU; --base-weights int8/fp8
quantize them as the service does), the caption is random (1,024 tokens, as the real connectors give),
and the LoRA trains through the service's own trainer (LoraTrainer) for --warmup steps, then --steps
measured ones. One JSON line is printed: seconds per step (median of the measured steps), peak memory
(CUDA: torch.cuda.max_memory_allocated; CPU and meta: peak bytes of live tensors, weights included),
tokens per second, the model's FLOPs per step (forward and backward, no recomputation) and their
utilisation of the GPU's peak rate (train_svc/estimate/gpus.py; null off a known GPU), and under
"predicted" the estimator's figures for the same bucket and settings. On the meta device the base and its
LoRA are built and counted (shapes and parameter counts against the config's and the estimator's) and no
step runs (a step reads its loss, which a meta tensor does not have): the real-size path is known to build.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from tests.benchmarks.preconditions import Preconditions
from train_svc.estimate.estimator import Estimator
from train_svc.estimate.gpus import GPUS, Gpu
from train_svc.estimate.job_shape import JobShape, MemoryPlan
from train_svc.estimate.live_bytes import LiveBytes
from train_svc.estimate.model_spec import ModelSpec
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import Placement
from train_svc.models.quantize import QUANTIZED_KINDS, check_device
from train_svc.models.real_size import build_on_meta
from train_svc.models.tensor_bytes import module_bytes
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.training.audio_encoding import AudioLatents
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEmbedding, VideoLatents
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample

TEXT_TOKENS = 1024
FPS = 24.0
ALL_STEPS = "every warm-up and measured step ran"
RANDOM_BASE = "the base was built on the device with the config's parameter count"
LORA_BUILT = "the LoRA has the parameter count the estimator predicts"


def _spec(size: str) -> ModelSpec:
    return ModelSpec.real() if size == "real" else ModelSpec.from_directory(resolve_base_model(PRESET_NAME).path)


def random_base(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """The transformer with random weights, allocated on `device` directly (never whole on the host)."""
    transformer = build_on_meta("transformer", spec.configs["transformer"]).to(dtype)
    if device.type != "meta":
        transformer = transformer.to_empty(device=device)
        generator = torch.Generator(device=device).manual_seed(0)
        with torch.no_grad():
            for param in transformer.parameters():
                param.normal_(0.0, 0.02, generator=generator)
    return transformer.requires_grad_(False)


def random_sample(spec: ModelSpec, shape: JobShape, device: torch.device) -> TrainingSample:
    config = spec.configs["transformer"]
    temporal, spatial = spec.compression
    grid = ((shape.frames - 1) // temporal + 1, shape.height // spatial, shape.width // spatial)
    generator = torch.Generator(device="cpu").manual_seed(1)

    def randn(*size: int) -> torch.Tensor:
        if device.type == "meta":
            return torch.empty(*size, device=device)
        return torch.randn(*size, generator=generator).to(device)

    latents = VideoLatents(randn(1, grid[0] * grid[1] * grid[2], config["in_channels"]), *grid, fps=FPS)
    caption = CaptionEmbedding(
        video=randn(1, TEXT_TOKENS, config["cross_attention_dim"]),
        audio=randn(1, TEXT_TOKENS, config["audio_cross_attention_dim"]),
        mask=torch.ones(1, TEXT_TOKENS, dtype=torch.long, device=device),
    )
    audio = AudioLatents(randn(1, shape.audio_tokens, config["audio_in_channels"])) if shape.with_audio else None
    return TrainingSample("random", latents, caption, audio)


def _gpu_of(device: torch.device) -> Gpu | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower().replace(" ", "")
    matches = [gpu for key, gpu in GPUS.items() if key.replace("-", "").replace("80gb", "") in name]
    return matches[0] if len(matches) == 1 else None


def run(args: argparse.Namespace, checks: Preconditions) -> dict:
    device = torch.device(args.device)
    compute = "fp32" if device.type == "cpu" else "bf16"  # the meta device stands in for a GPU
    base_weights = args.base_weights or compute
    spec = _spec(args.size)
    shape = JobShape(
        args.width,
        args.height,
        args.frames,
        FPS,
        args.audio,
        args.rank,
        args.warmup + args.steps,
        1,
        False,
        0,
        (args.width, args.height, args.frames),
        1,
        0,
    )
    plan = MemoryPlan(base_weights, compute, not args.no_gradient_checkpointing, args.offload_blocks)
    dtype = torch.bfloat16 if compute == "bf16" else torch.float32
    if base_weights in QUANTIZED_KINDS:
        check_device(base_weights, device)  # fp8 below compute capability 8.9 is refused, as the service does
    placement = Placement(
        device,
        dtype,
        quantization=base_weights if base_weights in ("int8", "fp8") else None,
        offload_blocks=args.offload_blocks,
    )
    # Quantized or offloaded: built on the host, as the service loads such a base, and placed block by block.
    base = random_base(spec, torch.device("cpu") if args.offload_blocks or placement.quantization else device, dtype)
    count = sum(p.numel() for p in base.parameters())
    checks.require(RANDOM_BASE, count == spec.parameters("transformer"), f"{count:,} parameters")
    config = TrainConfig(
        rank=args.rank,
        learning_rate=1e-4,
        steps=shape.steps,
        audio=args.audio,
        gradient_checkpointing=plan.gradient_checkpointing,
    )
    trainer = LoraTrainer(None, placement, config, base=base)
    lora = sum(p.numel() for p in trainer.lora_parameters)
    expected_lora = spec.lora_parameters(args.rank, audio=args.audio, feed_forward=False)
    checks.require(LORA_BUILT, lora == expected_lora, f"{lora:,} LoRA parameters, estimated {expected_lora:,}")
    if device.type == "meta":
        return _report(args, plan, count, lora, None, None, None, spec, shape)
    sample = random_sample(spec, shape, device)
    reports: list[StepReport] = []
    meter = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        held = [*trainer.transformer.parameters(), *trainer.transformer.buffers()]
        meter = LiveBytes(module_bytes(trainer.transformer), device_type=device.type).exclude(held)

    def on_step(report: StepReport) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        reports.append(report)

    started = time.perf_counter()
    if meter is not None:
        with meter:
            trainer.train([sample], on_step=on_step)
    else:
        trainer.train([sample], on_step=on_step)
    wall = time.perf_counter() - started
    checks.require(ALL_STEPS, len(reports) == shape.steps, f"{len(reports)} of {shape.steps}")
    measured = [r.step_seconds for r in reports[args.warmup :]]
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else meter.peak  # type: ignore[union-attr]
    return _report(args, plan, count, lora, statistics.median(measured), wall, int(peak), spec, shape)


def _report(args, plan: MemoryPlan, count: int, lora: int, seconds, wall, peak, spec, shape) -> dict:
    device = torch.device(args.device)
    gpu = _gpu_of(device)
    estimator = Estimator(spec)
    predicted = estimator.estimate(shape, plan, gpu, suggest=False)
    no_recompute = MemoryPlan(plan.base_weights, plan.compute, False, 0)
    model_flops = estimator.estimate(shape, no_recompute, None, suggest=False).flops_per_step
    return {
        "device": args.device,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else args.device,
        "size": args.size,
        "bucket": {"width": args.width, "height": args.height, "frames": args.frames, "audio": args.audio},
        "settings": plan.describe(),
        "parameters": {"transformer": count, "lora": lora},
        "steps": args.steps if seconds is not None else 0,
        "warmup": args.warmup,
        "seconds_per_step": seconds,
        "wall_seconds": wall,
        "peak_memory_bytes": peak,
        "tokens_per_second": predicted.tokens_per_sample / seconds if seconds else None,
        "model_flops_per_step": model_flops,
        "mfu": model_flops / seconds / gpu.bf16_flops if gpu is not None and seconds else None,
        "predicted": {
            "gpu": predicted.gpu,
            "peak_memory_bytes": predicted.training_peak_bytes,
            "seconds_per_step": predicted.seconds_per_step if gpu is not None else None,
            "ratio_peak": predicted.training_peak_bytes / peak if peak else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, cpu or meta")
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--frames", type=int, default=89)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--audio", action="store_true", help="train the audio stream too (joint step)")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--base-weights", choices=("bf16", "fp32", "int8", "fp8"))
    parser.add_argument("--offload-blocks", type=int, default=0)
    parser.add_argument("--no-gradient-checkpointing", action="store_true")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    checks = Preconditions("gpu_step")
    print(json.dumps(run(args, checks)))
    print(checks.summary())


if __name__ == "__main__":
    main()
