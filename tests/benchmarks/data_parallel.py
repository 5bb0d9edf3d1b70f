"""Data parallel on this machine: s/step with world size 1, 2 (DDP) and 2 with the base sharded (FSDP2,
--shard-base), the bytes each moves per step, and how far each two-rank run's LoRA and losses are from
the one-rank run's (not a CI gate).

  python -m tests.benchmarks.data_parallel [--frames 17] [--size 128] [--steps 30] [--batch 2]

Two synthetic clips are encoded once. Then the same training config (batch --batch, fixed seed) runs
in this process alone, and twice on two gloo ranks (two processes, rendezvous on 127.0.0.1,
GLOO_SOCKET_IFNAME=lo) that split the batch: DDP, then the base sharded; each rank uses one torch
thread. The median step time of each (the first 3 steps dropped as warm-up), the ratios to one rank,
the bytes DDP all-reduced per step (counted by a communication hook around its default all-reduce), the
bytes FSDP2 all-gathered and reduce-scattered per step on rank 0 (counted by a custom all-gather and the
reduce-scatter hook) and the largest differences of the final LoRA and of the per-step losses are
printed. On 2 cores, expect no speed-up: two ranks share the cores the one process had, and add the
collectives.

Preconditions, checked as it runs: torch runs on one thread per rank; every run trained every step;
DDP reduced every step, and exactly the LoRA's bytes each time; the sharded run gathered every step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.fsdp import FSDPModule

# FSDP2's default all-gather (no public name), subclassed to count what it gathers
from torch.distributed.fsdp._fully_shard._fsdp_collectives import DefaultAllGather

from tests.benchmarks.preconditions import Preconditions
from tests.e2e.processes import free_port
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
ALL_STEPS = "every run trained every step"
REDUCED = "DDP reduced every step, exactly the LoRA's bytes"
GATHERED = "the sharded run all-gathered the base every step"


@dataclass(frozen=True)
class RunResult:
    step_seconds: list[float]
    losses: list[float]
    lora: dict[str, torch.Tensor]
    reduced_bytes: list[int]  # per DDP bucket, or per FSDP2 reduce-scatter (two ranks only)
    lora_bytes: int
    gathered_bytes: int = 0  # FSDP2's all-gathers, on this rank


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


class _CountingAllGather(DefaultAllGather):
    """FSDP2's default all-gather, counting the bytes of what it gathers."""

    def __init__(self, counted: list[int]):
        self.counted = counted

    def __call__(self, output_tensor, input_tensor, group, async_op=False):
        self.counted.append(output_tensor.numel() * output_tensor.element_size())
        return super().__call__(output_tensor, input_tensor, group, async_op)


def _train(config: TrainConfig, samples: list[TrainingSample], ranks: Ranks, shard_base: bool = False) -> RunResult:
    model = resolve_base_model(PRESET_NAME)
    trainer = LoraTrainer(model.path, choose_placement("cpu", "fp32"), config, ranks, shard_base=shard_base)
    reduced: list[int] = []
    gathered: list[int] = []
    for module in trainer.transformer.modules() if trainer.sharded else ():
        if isinstance(module, FSDPModule):
            module.set_custom_all_gather(_CountingAllGather(gathered))
            module.set_all_reduce_hook(lambda output: reduced.append(output.numel() * output.element_size()))
    if trainer.data_parallel is not None:

        def counting_hook(state, bucket):
            reduced.append(bucket.buffer().numel() * bucket.buffer().element_size())
            buffer = bucket.buffer().div_(ranks.world_size)
            return dist.all_reduce(buffer, async_op=True).get_future().then(lambda fut: fut.value()[0])

        trainer.data_parallel.register_comm_hook(None, counting_hook)
    reports: list[StepReport] = []
    trainer.train(samples, on_step=reports.append)
    counted = sum(gathered)
    lora = trainer.lora_state_dict()
    return RunResult(
        [r.step_seconds for r in reports],
        [r.loss for r in reports],
        lora,
        reduced,
        sum(t.numel() * 4 for t in lora.values()),
        counted,
    )


def _rank(
    rank: int, world: int, port: int, config: TrainConfig, samples_file: str, out_file: str, shard_base: bool
) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        samples = torch.load(samples_file, weights_only=False)
        result = _train(config, samples, Ranks.of_process_group(torch.device("cpu")), shard_base)
        if rank == 0:
            torch.save(result, out_file)
        # Both ranks leave together: a rank that tore its group down while the other still used it aborted
        # once in gloo ("terminate called without an active exception").
        dist.barrier()
    finally:
        dist.destroy_process_group()


def measure(
    *, frames: int, size: int, steps: int, batch: int, checks: Preconditions
) -> tuple[RunResult, RunResult, RunResult]:
    """The one-rank run, the DDP run and the sharded run."""
    torch.set_num_threads(1)
    checks.require(ONE_THREAD, torch.get_num_threads() == 1, f"{torch.get_num_threads()} threads")
    model = resolve_base_model(PRESET_NAME)
    samples = make_samples(model.path, choose_placement("cpu", "fp32"), frames, size)
    config = TrainConfig(rank=8, learning_rate=2e-3, steps=steps, batch_size=batch, seed=7)
    one = _train(config, samples, Ranks())
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        samples_file, out_file = str(Path(tmp) / "samples.pt"), str(Path(tmp) / "rank0.pt")
        torch.save(samples, samples_file)
        for shard_base in (False, True):
            args = (2, free_port(), config, samples_file, out_file, shard_base)
            mp.spawn(_rank, args=args, nprocs=2, join=True)
            runs.append(torch.load(out_file, weights_only=False))
    two, sharded = runs
    lengths = {len(run.losses) for run in (one, two, sharded)}
    checks.require(ALL_STEPS, lengths == {steps} and steps > WARM_UP_STEPS, f"{steps} steps, runs of {lengths}")
    checks.require(
        REDUCED,
        len(two.reduced_bytes) % steps == 0 and sum(two.reduced_bytes) == steps * two.lora_bytes,
        f"{len(two.reduced_bytes)} buckets, {sum(two.reduced_bytes)} bytes over {steps} steps, LoRA {two.lora_bytes}",
    )
    checks.require(GATHERED, sharded.gathered_bytes > 0 and len(sharded.reduced_bytes) % steps == 0, "sharded")
    return one, two, sharded


def _agreement(one: RunResult, other: RunResult) -> str:
    lora_abs = max((other.lora[k] - one.lora[k]).abs().max().item() for k in one.lora)
    loss_rel = max(abs(a - b) / abs(a) for a, b in zip(one.losses, other.losses, strict=True))
    return f"final LoRA max |diff| {lora_abs:.3g}, losses max rel diff {loss_rel:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args(argv)
    checks = Preconditions("data_parallel")
    one, two, sharded = measure(frames=args.frames, size=args.size, steps=args.steps, batch=args.batch, checks=checks)
    s1, s2, s3 = (statistics.median(run.step_seconds[WARM_UP_STEPS:]) for run in (one, two, sharded))
    lora_scale = max(t.abs().max().item() for t in one.lora.values())
    print(f"batch {args.batch}, {args.frames} frames {args.size}x{args.size}, rank 8, fp32, gloo on loopback")
    print(f"s/step: world 1 {s1 * 1000:.1f} ms; world 2 DDP {s2 * 1000:.1f} ms (ratio {s2 / s1:.2f}); ", end="")
    print(f"world 2 sharded {s3 * 1000:.1f} ms (ratio {s3 / s1:.2f})")
    print(f"DDP all-reduced per step: {sum(two.reduced_bytes) // args.steps:,} bytes (the LoRA: {two.lora_bytes:,})")
    print(
        f"sharded, rank 0, per step: all-gathered {sharded.gathered_bytes // args.steps:,} bytes, "
        f"reduce-scattered {sum(sharded.reduced_bytes) // args.steps:,} bytes (its shard of the LoRA's gradients)"
    )
    print(f"largest LoRA weight {lora_scale:.3g}; DDP vs one rank: {_agreement(one, two)}")
    print(f"sharded vs one rank: {_agreement(one, sharded)}")
    print(checks.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
