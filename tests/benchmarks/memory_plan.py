"""Memory of LoRA training on the tiny preset, measured and estimated in the same run (not a CI gate).

  python -m tests.benchmarks.memory_plan [--steps 4] [--size 128] [--frames 33]
                                         [--buckets 17x64x64,33x128x128,49x192x192:audio]

Memory here is the peak bytes of live tensors on the CPU (train_svc.estimate.live_bytes), not the RSS
torch itself dominates: the frozen transformer, the LoRA, whatever else is resident, and the most the
training steps allocated at once (optimizer state included, as --steps >= 2 steps run).

Part 1, at one bucket: each memory setting against the service's default (encoder outputs cached and
the encoders released, gradient checkpointing on, an fp32 base on this CPU): caches off (the text
encoder, connectors and video VAE stay resident and the sample is encoded in the measured window, as a
trainer without the cache would every step), checkpointing off, and a bf16, int8 and fp8 base. Printed:
bytes of the frozen base and of the LoRA, measured peak, and median seconds per step (one thread).

Part 2: the estimator (train_svc.estimate) against the measurement, at each bucket: predicted peak over
measured peak, which the issue bounds to 0.8-1.25.

Preconditions, checked as it runs: torch runs on one thread; every run trained the asked steps; a
quantized base's block linears really hold one byte per weight; a sample with audio has audio tokens.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch

from tests.benchmarks.audio_step import make_sample
from tests.benchmarks.preconditions import Preconditions
from train_svc.estimate.estimator import Estimator
from train_svc.estimate.job_shape import JobShape, MemoryPlan
from train_svc.estimate.live_bytes import LiveBytes
from train_svc.estimate.model_spec import ModelSpec
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import Placement, choose_placement
from train_svc.models.tensor_bytes import module_bytes
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, VideoEncoder
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample

RANK = 32
ONE_THREAD = "torch runs on one thread"
ALL_STEPS = "every run trained the asked steps"
QUANTIZED = "a quantized base holds one byte per block weight"
AUDIO_TOKENS = "a sample with audio has audio tokens"


@dataclass(frozen=True)
class Measured:
    name: str
    base_bytes: int  # the frozen transformer (and, with caches off, the resident encoders)
    lora_bytes: int
    peak_bytes: int
    step_seconds: float


def _sample_tensors(sample: TrainingSample) -> list[torch.Tensor]:
    tensors = [sample.latents.tokens, sample.caption.video, sample.caption.audio, sample.caption.mask]
    return tensors + ([sample.audio.tokens] if sample.audio is not None else [])


def measure(
    name: str,
    model_path,
    placement: Placement,
    config: TrainConfig,
    sample: TrainingSample,
    checks: Preconditions,
    resident: tuple[torch.nn.Module, ...] = (),
    encode=None,
) -> Measured:
    """Train `config.steps` steps on `sample` under the meter; `resident` modules count as held, and `encode`
    (if given) runs inside the measured window first."""
    trainer = LoraTrainer(model_path, placement, config)
    if placement.quantization:
        weight = trainer.transformer.transformer_blocks[0].attn1.to_q.base_layer.weight
        checks.require(QUANTIZED, weight.qdata.element_size() == 1, f"{type(weight).__name__}")
    held = [*trainer.transformer.parameters(), *trainer.transformer.buffers(), *_sample_tensors(sample)]
    held += [t for module in resident for t in (*module.parameters(), *module.buffers())]
    frozen = module_bytes(trainer.transformer, trainable=False)
    lora = module_bytes(trainer.transformer, trainable=True)
    resident_bytes = sum(module_bytes(module) for module in resident)
    baseline = frozen + lora + resident_bytes + sum(t.numel() * t.element_size() for t in _sample_tensors(sample))
    reports: list[StepReport] = []
    started = time.perf_counter()
    with LiveBytes(baseline).exclude(held) as meter:
        if encode is not None:
            encode()
        encode_seconds = time.perf_counter() - started
        trainer.train([sample], on_step=reports.append)
    checks.require(ALL_STEPS, len(reports) == config.steps, f"{len(reports)} of {config.steps}")
    step = statistics.median(r.step_seconds for r in reports[1:] or reports) + encode_seconds
    return Measured(name, frozen + resident_bytes, lora, meter.peak, step)


def settings_table(model_path, sample: TrainingSample, steps: int, checks: Preconditions) -> list[Measured]:
    fp32 = choose_placement("cpu", "fp32")
    config = TrainConfig(rank=RANK, learning_rate=1e-4, steps=steps)
    rows = [measure("default (caches on, checkpointing on, fp32 base)", model_path, fp32, config, sample, checks)]
    video, caption = VideoEncoder(model_path, fp32), CaptionEncoder(model_path, fp32)
    try:
        # A clip of the sample's size, encoded again as a trainer without the cache would.
        latents, temporal, spatial = sample.latents, video.temporal_ratio, video.spatial_ratio
        size = ((latents.frames - 1) * temporal + 1, latents.height * spatial, latents.width * spatial, 3)
        clip = torch.randint(0, 255, size, dtype=torch.uint8).numpy()
        resident = (video._vae, caption._pipe.text_encoder, caption._pipe.connectors)

        def encode() -> None:
            video.encode(clip, 24.0)
            caption.encode("zqx a rising chord")

        rows.append(
            measure("caches off (encoders resident)", model_path, fp32, config, sample, checks, resident, encode)
        )
    finally:
        video.close()
        caption.close()
    no_checkpointing = TrainConfig(rank=RANK, learning_rate=1e-4, steps=steps, gradient_checkpointing=False)
    rows.append(measure("gradient checkpointing off", model_path, fp32, no_checkpointing, sample, checks))
    for kind in ("bf16", "int8", "fp8"):
        placement = choose_placement("cpu", "bf16" if kind == "bf16" else "fp32", kind)
        rows.append(measure(f"{kind} base", model_path, placement, config, sample, checks))
    return rows


@dataclass(frozen=True)
class Calibration:
    bucket: str
    tokens: int
    measured: int
    predicted: int

    @property
    def ratio(self) -> float:
        return self.predicted / self.measured


def calibrate(model, buckets: list[tuple[int, int, bool]], steps: int, checks: Preconditions) -> list[Calibration]:
    estimator = Estimator(ModelSpec.from_directory(model.path, PRESET_NAME))
    placement = choose_placement("cpu", "fp32")
    rows = []
    for frames, size, audio in buckets:
        sample = make_sample(model.path, placement, frames, size)
        if not audio:
            sample = TrainingSample(sample.sample_id, sample.latents, sample.caption)
        else:
            checks.require(AUDIO_TOKENS, sample.audio is not None and sample.audio.num_tokens > 0)
        config = TrainConfig(rank=RANK, learning_rate=1e-4, steps=steps, audio=audio)
        measured = measure("", model.path, placement, config, sample, checks)
        shape = JobShape(size, size, frames, 24.0, audio, RANK, steps, 1, False, 0, (size, size, frames), 1, steps)
        predicted = estimator.estimate(shape, MemoryPlan("fp32", "fp32"), None)
        tokens = sample.latents.num_tokens + (sample.audio.num_tokens if sample.audio is not None else 0)
        label = f"{frames}x{size}x{size}" + (" +audio" if audio else "")
        rows.append(Calibration(label, tokens, measured.peak_bytes, predicted.training_peak_bytes))
    return rows


def _buckets(text: str) -> list[tuple[int, int, bool]]:
    out = []
    for item in text.split(","):
        size, _, audio = item.partition(":")
        frames, height, width = (int(v) for v in size.split("x"))
        if height != width:
            raise argparse.ArgumentTypeError(f"{item}: square buckets only")
        out.append((frames, height, audio == "audio"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--buckets", type=_buckets, default=_buckets("17x64x64,33x128x128,49x192x192:audio"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    checks = Preconditions("memory_plan")
    checks.require(ONE_THREAD, torch.get_num_threads() == 1)
    model = resolve_base_model(PRESET_NAME)
    sample = make_sample(model.path, choose_placement("cpu", "fp32"), args.frames, args.size)
    sample = TrainingSample(sample.sample_id, sample.latents, sample.caption)
    print(f"tiny preset, {args.frames}x{args.size}x{args.size} video only, rank {RANK}, {args.steps} steps, 1 thread")
    print(f"{'setting':<50} {'base bytes':>12} {'LoRA bytes':>11} {'peak bytes':>12} {'s/step':>8}")
    for row in settings_table(model.path, sample, args.steps, checks):
        print(
            f"{row.name:<50} {row.base_bytes:>12,} {row.lora_bytes:>11,} {row.peak_bytes:>12,} {row.step_seconds:>8.3f}"
        )
    print(f"\n{'bucket':<20} {'tokens':>7} {'measured peak':>14} {'predicted':>12} {'ratio':>6}")
    for row in calibrate(model, args.buckets, args.steps, checks):
        print(f"{row.bucket:<20} {row.tokens:>7} {row.measured:>14,} {row.predicted:>12,} {row.ratio:>6.3f}")
    print(checks.summary())


if __name__ == "__main__":
    main()
