"""Data parallel on this machine: s/step with world size 1 and 2, bytes all-reduced per step, and how far
the two runs' LoRAs and losses are apart (not a CI gate).

  python -m tests.benchmarks.data_parallel [--frames 17] [--size 128] [--steps 30] [--batch 2]

Two synthetic clips are encoded once. Then the same training config (batch --batch, fixed seed) runs
in this process alone, and on two gloo ranks (two processes, c10d rendezvous on 127.0.0.1,
GLOO_SOCKET_IFNAME=lo) that split the batch; each rank uses one torch thread. The median step time of
each (the first 3 steps dropped as warm-up), their ratio, the bytes DDP all-reduced per step (counted
by a communication hook around its default all-reduce) and the largest differences of the final LoRA
and of the per-step losses are printed. On 2 cores, expect no speed-up: two ranks share the cores the
one process had, and add the all-reduce.

Preconditions, checked as it runs: torch runs on one thread per rank; both runs trained every step;
DDP reduced every step, and exactly the LoRA's bytes each time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.benchmarks.preconditions import Preconditions
from tests.training.conftest import striped_clip
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import choose_placement
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, VideoEncoder
from train_svc.training.ranks import Ranks
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample

FPS = 24.0
WARM_UP_STEPS = 3
LOOKS = (((0.1, 0.2, 1.0), (0.9, 0.6, 0.0), 1), ((0.9, 0.4, 0.0), (0.0, 0.2, 0.8), -1))  # base, accent, direction
ONE_THREAD = "torch runs on one thread per rank"
ALL_STEPS = "both runs trained every step"
REDUCED = "DDP reduced every step, exactly the LoRA's bytes"


@dataclass(frozen=True)
class RunResult:
    step_seconds: list[float]
    losses: list[float]
    lora: dict[str, torch.Tensor]
    reduced_bytes: list[int]  # per step (two ranks only)
    lora_bytes: int


def make_samples(model_path, placement, frames: int, size: int) -> list[TrainingSample]:
    video, caption = VideoEncoder(model_path, placement), CaptionEncoder(model_path, placement)
    try:
        return [
            TrainingSample(
                f"clip{i}",
                video.encode(striped_clip(frames, size, size, base=base, accent=accent, direction=d), FPS),
                caption.encode(f"zqx clip {i}"),
            )
            for i, (base, accent, d) in enumerate(
                [((0.1, 0.2, 1.0), (0.9, 0.6, 0.0), 1), ((0.9, 0.4, 0.0), (0, 0.2, 0.8), -1)]
            )
        ]
    finally:
        video.close()
        caption.close()


def _train(config: TrainConfig, samples: list[TrainingSample], ranks: Ranks) -> RunResult:
    model = resolve_base_model(PRESET_NAME)
    trainer = LoraTrainer(model.path, choose_placement("cpu", "fp32"), config, ranks)
    reduced: list[int] = []
    if trainer.data_parallel is not None:

        def counting_hook(state, bucket):
            reduced.append(bucket.buffer().numel() * bucket.buffer().element_size())
            buffer = bucket.buffer().div_(ranks.world_size)
            return dist.all_reduce(buffer, async_op=True).get_future().then(lambda fut: fut.value()[0])

        trainer.data_parallel.register_comm_hook(None, counting_hook)
    reports: list[StepReport] = []
    trainer.train(samples, on_step=reports.append)
    lora = trainer.lora_state_dict()
    return RunResult(
        [r.step_seconds for r in reports],
        [r.loss for r in reports],
        lora,
        reduced,
        sum(t.numel() * 4 for t in lora.values()),
    )


def _rank(rank: int, world: int, port: int, config: TrainConfig, samples_file: str, out_file: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = _train(
            config, torch.load(samples_file, weights_only=False), Ranks.of_process_group(torch.device("cpu"))
        )
        if rank == 0:
            torch.save(result, out_file)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(*, frames: int, size: int, steps: int, batch: int, checks: Preconditions) -> tuple[RunResult, RunResult]:
    torch.set_num_threads(1)
    checks.require(ONE_THREAD, torch.get_num_threads() == 1, f"{torch.get_num_threads()} threads")
    model = resolve_base_model(PRESET_NAME)
    samples = make_samples(model.path, choose_placement("cpu", "fp32"), frames, size)
    config = TrainConfig(rank=8, learning_rate=2e-3, steps=steps, batch_size=batch, seed=7)
    one = _train(config, samples, Ranks())
    with tempfile.TemporaryDirectory() as tmp:
        samples_file, out_file = str(Path(tmp) / "samples.pt"), str(Path(tmp) / "rank0.pt")
        torch.save(samples, samples_file)
        mp.spawn(_rank, args=(2, _free_port(), config, samples_file, out_file), nprocs=2, join=True)
        two: RunResult = torch.load(out_file, weights_only=False)
    checks.require(ALL_STEPS, len(one.losses) == len(two.losses) == steps > WARM_UP_STEPS, f"{steps} steps")
    checks.require(
        REDUCED,
        len(two.reduced_bytes) % steps == 0 and sum(two.reduced_bytes) == steps * two.lora_bytes,
        f"{len(two.reduced_bytes)} buckets, {sum(two.reduced_bytes)} bytes over {steps} steps, LoRA {two.lora_bytes}",
    )
    return one, two


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args(argv)
    checks = Preconditions("data_parallel")
    one, two = measure(frames=args.frames, size=args.size, steps=args.steps, batch=args.batch, checks=checks)
    s1 = statistics.median(one.step_seconds[WARM_UP_STEPS:])
    s2 = statistics.median(two.step_seconds[WARM_UP_STEPS:])
    lora_abs = max((two.lora[k] - one.lora[k]).abs().max().item() for k in one.lora)
    lora_scale = max(t.abs().max().item() for t in one.lora.values())
    loss_rel = max(abs(a - b) / abs(a) for a, b in zip(one.losses, two.losses, strict=True))
    print(f"batch {args.batch}, {args.frames} frames {args.size}x{args.size}, rank 8, fp32, gloo on loopback")
    print(f"s/step: world 1 {s1 * 1000:.1f} ms, world 2 {s2 * 1000:.1f} ms, ratio {s2 / s1:.2f}")
    print(f"all-reduced per step: {sum(two.reduced_bytes) // args.steps:,} bytes (the LoRA: {two.lora_bytes:,})")
    print(
        f"final LoRA: max |diff| {lora_abs:.3g} (largest weight {lora_scale:.3g}); losses: max rel diff {loss_rel:.3g}"
    )
    print(checks.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
