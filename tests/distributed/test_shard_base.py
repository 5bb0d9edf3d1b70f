"""The frozen base sharded over two gloo ranks with FSDP2 (`LoraTrainer(shard_base=True)`), on the CPU, against
one process training alone: the same per-step losses and final LoRA for an even and an uneven batch, each
rank holding half of the transformer, one gradient reduction per step, checkpoints equal to the
one-process run's and resumable by either kind of run.

The two ranks are spawned once for the module (MASTER_ADDR=127.0.0.1, GLOO_SOCKET_IFNAME=lo, one torch
thread each) and run every scenario; the tests read what they saved. Clipping binds on every step
(MAX_GRAD_NORM is below the gradient norms, ~0.02), so the global norm over the shards is part of what
is compared. Measured on torch 2.13 CPU, sharded vs alone, max |diff|: losses (~2.2) 2.4e-7, final LoRA
(weights up to ~0.09) 3.2e-7, the step-2 checkpoint's LoRA 3.2e-7 and AdamW state 3e-11; a resumed run
equals the uninterrupted one exactly. Without binding clipping both agree exactly: each sample's gradient
is the same either way, and averaging over two ranks only scales by a power of two.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor

from tests.e2e.processes import free_port
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import choose_placement
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.training.audio_encoding import AudioLatents
from train_svc.training.checkpoint import Checkpoint, CheckpointPolicy, checkpoint_path, read_checkpoint
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEmbedding, VideoLatents
from train_svc.training.ranks import Ranks
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample

pytestmark = pytest.mark.integration

WORLD = 2
BATCHES = (2, 3)  # even, and uneven: rank 1 pads its share with a weight-0 pass
STEPS = 4
CHECKPOINT_AT = 2
MAX_GRAD_NORM = 0.01
TOLERANCE = 1e-6  # absolute, on losses ~2.2 and LoRA weights up to ~0.09


def _config(batch: int, **changes) -> TrainConfig:
    settings = {"rank": 4, "learning_rate": 2e-3, "steps": STEPS, "seed": 7, "max_grad_norm": MAX_GRAD_NORM}
    return TrainConfig(batch_size=batch, **(settings | changes))


def _samples() -> list[TrainingSample]:
    """Three random samples (2x2x3 latent tokens, 16 caption tokens): the trainer only sees tensors."""
    generator = torch.Generator().manual_seed(0)
    return [
        TrainingSample(
            f"sample{i}",
            VideoLatents(torch.randn(1, 12, 32, generator=generator), frames=2, height=2, width=3, fps=24.0),
            CaptionEmbedding(
                torch.randn(1, 16, 128, generator=generator),
                torch.randn(1, 16, 64, generator=generator),
                torch.ones(1, 16, dtype=torch.long),
            ),
        )
        for i in range(3)
    ]


@dataclass
class Run:
    losses: list[float]
    lora: dict[str, torch.Tensor]
    local_numel: int  # elements of the transformer's parameters this rank holds
    full_numel: int
    written: list[int]  # steps whose checkpoint this rank reported written
    blocks: int  # transformer blocks
    reduce_scatters: int  # FSDP2's gradient reductions


def _train(model_path: Path, config: TrainConfig, ranks: Ranks, folder: Path, resume: Checkpoint | None = None) -> Run:
    trainer = LoraTrainer(model_path, choose_placement("cpu", "fp32"), config, ranks, shard_base=True)
    params = list(trainer.transformer.parameters())
    reduced: list[int] = []
    for module in trainer.transformer.modules():
        if isinstance(module, FSDPModule):  # called after each reduce-scatter of a 1-D mesh
            module.set_all_reduce_hook(lambda output: reduced.append(output.numel()))
    local = sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in params)
    reports: list[StepReport] = []
    written: list[int] = []
    policy = CheckpointPolicy(folder, every=CHECKPOINT_AT, keep=STEPS, on_checkpoint=lambda s, _: written.append(s))
    trainer.train(_samples(), on_step=reports.append, resume=resume, checkpoints=policy)
    return Run(
        losses=[r.loss for r in reports],
        lora=trainer.lora_state_dict(),  # a collective when sharded: every rank calls it
        local_numel=local,
        full_numel=sum(p.numel() for p in params),
        written=written,
        blocks=len(trainer.transformer.transformer_blocks),
        reduce_scatters=len(reduced),
    )


def _rank(rank: int, port: int, model_path: Path, out: Path, alone: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        ranks = Ranks.of_process_group(torch.device("cpu"))
        runs = {batch: _train(model_path, _config(batch), ranks, out / f"batch{batch}") for batch in BATCHES}
        dist.barrier()  # rank 0 has written the checkpoints
        checkpoint = read_checkpoint(checkpoint_path(out / f"batch{BATCHES[-1]}", CHECKPOINT_AT))
        resumed = _train(model_path, _config(BATCHES[-1]), ranks, out / "resumed", checkpoint)
        checkpoint = read_checkpoint(checkpoint_path(alone, CHECKPOINT_AT))
        adopted = _train(model_path, _config(BATCHES[-1]), ranks, out / "adopted", checkpoint)
        torch.save({"runs": runs, "resumed": resumed, "adopted": adopted}, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@dataclass
class Results:
    alone: dict[int, Run]  # batch -> one process
    sharded: list[dict[int, Run]]  # rank -> batch -> two sharded ranks
    resumed: list[Run]  # rank -> the last batch's sharded run resumed from its checkpoint, on two sharded ranks
    adopted: list[Run]  # rank -> the last batch's one-process run resumed from its checkpoint, on two sharded ranks
    folder: Path  # <folder>/alone<batch>, <folder>/sharded/batch<batch>: the runs' checkpoints


@pytest.fixture(scope="module")
def model_path() -> Path:
    return resolve_base_model(PRESET_NAME).path


@pytest.fixture(scope="module")
def results(tmp_path_factory, model_path: Path) -> Results:
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("shard-base")
    alone = {
        batch: _train(model_path, _config(batch), Ranks(), folder / f"alone{batch}")  # shard_base: ignored alone
        for batch in BATCHES
    }
    (folder / "sharded").mkdir()
    args = (free_port(), model_path, folder / "sharded", folder / f"alone{BATCHES[-1]}")
    mp.spawn(_rank, args=args, nprocs=WORLD, join=True)
    saved = [torch.load(folder / "sharded" / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return Results(alone, *([s[key] for s in saved] for key in ("runs", "resumed", "adopted")), folder)


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("batch", BATCHES)
def test_sharded_ranks_train_what_one_process_trains(results: Results, batch: int) -> None:
    alone, sharded = results.alone[batch], results.sharded[0][batch]
    assert len(sharded.losses) == len(alone.losses) == STEPS
    assert max(abs(a - b) for a, b in zip(alone.losses, sharded.losses, strict=True)) <= TOLERANCE
    assert _max_diff(alone.lora, sharded.lora) <= TOLERANCE
    assert max(t.abs().max().item() for k, t in alone.lora.items() if "lora_B" in k) > 1e-3  # it trained
    assert _max_diff(sharded.lora, results.sharded[1][batch].lora) == 0.0  # every rank exports the same LoRA


@pytest.mark.parametrize("batch", BATCHES)
def test_gradients_are_reduced_once_per_step(results: Results, batch: int) -> None:
    """In the last pass of a rank's share alone: the passes before accumulate (FSDP2's no_sync)."""
    runs = [by_batch[batch] for by_batch in results.sharded]
    assert [run.reduce_scatters for run in runs] == [STEPS * run.blocks for run in runs]  # each block has LoRA


def test_each_rank_holds_half_of_the_base(results: Results) -> None:
    runs = [by_batch[BATCHES[0]] for by_batch in results.sharded]
    full = results.alone[BATCHES[0]].full_numel
    assert results.alone[BATCHES[0]].local_numel == full
    assert all(run.full_numel == full for run in runs)
    assert sum(run.local_numel for run in runs) == full
    assert all(abs(run.local_numel - full / WORLD) < 0.01 * full for run in runs)


def test_a_sharded_checkpoint_is_the_one_process_checkpoint(results: Results) -> None:
    """Whole tensors, the same optimizer state layout: a checkpoint does not say whether the base was sharded."""
    for batch in BATCHES:
        assert results.sharded[0][batch].written == [CHECKPOINT_AT, STEPS] and results.sharded[1][batch].written == []
        sharded = read_checkpoint(checkpoint_path(results.folder / "sharded" / f"batch{batch}", CHECKPOINT_AT))
        alone = read_checkpoint(checkpoint_path(results.folder / f"alone{batch}", CHECKPOINT_AT))
        assert _max_diff(sharded.lora, alone.lora) <= TOLERANCE
        assert sharded.optimizer["param_groups"] == alone.optimizer["param_groups"]
        assert sharded.optimizer["state"].keys() == alone.optimizer["state"].keys()
        for i, state in alone.optimizer["state"].items():
            other = sharded.optimizer["state"][i]
            assert other.keys() == state.keys()
            assert all(type(other[k]) is torch.Tensor and other[k].shape == state[k].shape for k in state)
            assert max((other[k] - state[k]).abs().max().item() for k in state) <= TOLERANCE
        assert sharded.scheduler == alone.scheduler


def test_a_sharded_run_resumes_on_sharded_ranks_where_it_would_have_ended(results: Results) -> None:
    whole, resumed = results.sharded[0][BATCHES[-1]], results.resumed[0]
    assert resumed.losses == pytest.approx(whole.losses[CHECKPOINT_AT:], abs=TOLERANCE)
    assert _max_diff(resumed.lora, whole.lora) <= TOLERANCE
    assert resumed.written == [STEPS]


def test_sharded_ranks_resume_a_one_process_checkpoint(results: Results) -> None:
    alone, adopted = results.alone[BATCHES[-1]], results.adopted[0]
    assert adopted.losses == pytest.approx(alone.losses[CHECKPOINT_AT:], abs=TOLERANCE)
    assert _max_diff(adopted.lora, alone.lora) <= TOLERANCE


def test_one_process_resumes_a_sharded_checkpoint(results: Results, model_path: Path, tmp_path: Path) -> None:
    batch = BATCHES[-1]
    checkpoint = read_checkpoint(checkpoint_path(results.folder / "sharded" / f"batch{batch}", CHECKPOINT_AT))
    resumed = _train(model_path, _config(batch), Ranks(), tmp_path, checkpoint)
    assert resumed.losses == pytest.approx(results.alone[batch].losses[CHECKPOINT_AT:], abs=TOLERANCE)
    assert _max_diff(resumed.lora, results.alone[batch].lora) <= TOLERANCE


@pytest.mark.parametrize("audio", [False, True])
def test_every_adapter_the_trainer_builds_gets_a_gradient(model_path: Path, audio: bool) -> None:
    """So every rank reduces the same parameters (DDP's all-reduce and FSDP2's reduce-scatter need that), and
    weight decay never moves an adapter the loss does not reach: lora_targets builds the audio adapters for
    audio runs only."""
    samples = _samples()
    if audio:
        generator = torch.Generator().manual_seed(1)
        samples = [
            TrainingSample(s.sample_id, s.latents, s.caption, AudioLatents(torch.randn(1, 5, 32, generator=generator)))
            for s in samples
        ]
    trainer = LoraTrainer(model_path, choose_placement("cpu", "fp32"), _config(1, audio=audio, steps=1))
    trainer.train(samples)  # the gradients of its one step stay on the parameters
    assert trainer.lora_parameters and all(p.grad is not None for p in trainer.lora_parameters)
    assert any("audio_attn1" in name for name in trainer.named_lora_parameters) == audio
