"""Checkpoint and resume: a run stopped at a checkpoint and continued by a fresh trainer ends exactly
where the uninterrupted run ends, with the same per-step losses; damaged checkpoints and changed
settings are refused; rotation keeps the newest K checkpoints and touches nothing else.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.checkpoint import (
    CheckpointMismatch,
    CheckpointPolicy,
    CorruptCheckpoint,
    checkpoint_path,
    latest_checkpoint,
    read_checkpoint,
)
from train_svc.training.config import TrainConfig
from train_svc.training.data_order import DataOrder
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample

FPS = 24.0
FRAMES = 9
SAMPLE_RATE = 16_000
TOTAL = 6  # three epochs of the two samples
STOP_AT = 3  # mid-epoch: the resumed run starts on the epoch's second sample


def tone(hz: float, seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.stack([0.4 * np.sin(2 * np.pi * hz * t), 0.3 * np.sin(2 * np.pi * 1.5 * hz * t)]).astype(np.float32)


@pytest.fixture(scope="module")
def samples(tiny_model, placement, video_encoder, caption_encoder, make_clip) -> list[TrainingSample]:
    """Two small clips with sound, so the data order matters."""
    audio_encoder = AudioEncoder(tiny_model.path, placement)
    looks = [((0.1, 0.2, 1.0), (0.9, 0.6, 0.0), 1, 300.0), ((0.9, 0.4, 0.0), (0.0, 0.2, 0.8), -1, 520.0)]
    out = []
    for i, (base, accent, direction, hz) in enumerate(looks):
        clip = make_clip(FRAMES, 32, 32, base=base, accent=accent, direction=direction)
        out.append(
            TrainingSample(
                f"clip{i}",
                video_encoder.encode(clip, FPS),
                caption_encoder.encode(f"zqx clip number {i}"),
                audio_encoder.encode(tone(hz, FRAMES / FPS), SAMPLE_RATE, FRAMES / FPS),
            )
        )
    audio_encoder.close()
    return out


def _config(**changes) -> TrainConfig:
    return dataclasses.replace(TrainConfig(rank=4, learning_rate=5e-3, steps=TOTAL, seed=7), **changes)


def _losses(reports: list[StepReport]) -> list[tuple]:
    return [(r.step, r.total_steps, r.loss, r.video_loss, r.audio_loss, r.learning_rate) for r in reports]


def _run(tiny_model, placement, samples, config: TrainConfig, **train_args) -> tuple[LoraTrainer, list[StepReport]]:
    trainer = LoraTrainer(tiny_model.path, placement, config)
    reports: list[StepReport] = []
    trainer.train(samples, on_step=reports.append, **train_args)
    return trainer, reports


def _assert_same_lora(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_the_data_order_is_one_permutation_per_epoch_found_from_the_position_alone() -> None:
    """Any rank, and a resumed run, finds the sample of any run position without replaying the ones before."""
    order = DataOrder(5, seed=7)
    forward = [order.sample_at(p) for p in range(15)]
    for epoch in range(3):
        assert sorted(forward[epoch * 5 : epoch * 5 + 5]) == list(range(5))
    assert forward[:5] != forward[5:10] or forward[5:10] != forward[10:]  # epochs are drawn afresh
    backward = DataOrder(5, seed=7)
    assert [backward.sample_at(p) for p in reversed(range(15))] == forward[::-1]
    assert [DataOrder(5, seed=8).sample_at(p) for p in range(15)] != forward
    with pytest.raises(ValueError, match=">= 0"):
        order.sample_at(-1)


@pytest.mark.parametrize("audio", [False, True], ids=["video", "joint-audio"])
def test_a_resumed_run_ends_exactly_where_the_uninterrupted_run_ends(
    tiny_model, placement, samples, tmp_path, audio
) -> None:
    config = _config(audio=audio)
    whole, whole_reports = _run(tiny_model, placement, samples, config)

    written: list[tuple[int, Path]] = []
    policy = CheckpointPolicy(tmp_path / "ckpt", every=STOP_AT, on_checkpoint=lambda s, p: written.append((s, p)))
    first = LoraTrainer(tiny_model.path, placement, config)
    first_reports: list[StepReport] = []
    global_rng = torch.get_rng_state()
    steps = first.train(
        samples, first_reports.append, should_stop=lambda: len(first_reports) == STOP_AT, checkpoints=policy
    )
    assert torch.equal(torch.get_rng_state(), global_rng)  # why the checkpoint need not hold the global RNG
    assert steps == STOP_AT and written == [(STOP_AT, checkpoint_path(policy.folder, STOP_AT))]
    del first

    checkpoint = read_checkpoint(written[0][1])
    assert checkpoint.step == STOP_AT
    torch.manual_seed(1234)  # a restarted process's global RNG is anywhere
    resumed, resumed_reports = _run(tiny_model, placement, samples, config, resume=checkpoint)

    assert _losses(whole_reports[:STOP_AT]) == _losses(first_reports)
    assert _losses(resumed_reports) == _losses(whole_reports[STOP_AT:])
    assert [r.step for r in resumed_reports] == list(range(STOP_AT + 1, TOTAL + 1))
    _assert_same_lora(resumed.lora_state_dict(), whole.lora_state_dict())


def test_rotation_keeps_the_newest_checkpoints_and_leaves_other_files_alone(
    tiny_model, placement, samples, tmp_path
) -> None:
    folder = tmp_path / "job" / "checkpoints"
    folder.mkdir(parents=True)
    others = {
        tmp_path / "job" / "lora.safetensors": b"final lora",
        folder / "notes.txt": b"mine",
        folder / "step-12.pt": b"not our name",
        folder / "step-000002.pt.bak": b"a backup",
    }
    for path, content in others.items():
        path.write_bytes(content)
    (folder / "step-000001.pt").mkdir()  # a folder with a checkpoint's name is not a checkpoint
    stale = checkpoint_path(folder, 9)  # left by an attempt replaced by a resume from an older checkpoint
    stale.write_bytes(b"from an abandoned attempt")

    written = []
    policy = CheckpointPolicy(folder, every=2, keep=2, on_checkpoint=lambda s, p: written.append(s))
    _run(tiny_model, placement, samples, _config(steps=7), checkpoints=policy)

    assert written == [2, 4, 6, 7]  # every 2 steps, and after the last one
    checkpoints = sorted(p.name for p in folder.glob("step-0*.pt") if p.is_file())
    assert checkpoints == ["step-000006.pt", "step-000007.pt"]
    assert all(path.read_bytes() == content for path, content in others.items())
    assert (folder / "step-000001.pt").is_dir() and not list(folder.glob(".*.tmp"))
    assert latest_checkpoint(folder).step == 7


def test_a_damaged_checkpoint_is_refused_and_the_previous_one_still_resumes(
    tiny_model, placement, samples, tmp_path
) -> None:
    folder = tmp_path / "checkpoints"
    config = _config(steps=4)
    whole, _ = _run(tiny_model, placement, samples, config, checkpoints=CheckpointPolicy(folder, every=2))
    newest = checkpoint_path(folder, 4)
    data = newest.read_bytes()
    lora_a = next(t for name, t in read_checkpoint(newest).lora.items() if ".lora_A." in name)

    newest.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpoint, match=r"step-000004\.pt is unreadable \(truncated or damaged\)"):
        read_checkpoint(newest)
    flipped = bytearray(data)
    flipped[data.index(lora_a.numpy().tobytes()) + 5] ^= 0xFF  # one bit-rotted byte inside a LoRA matrix
    newest.write_bytes(bytes(flipped))
    with pytest.raises(CorruptCheckpoint, match=r"step-000004\.pt is damaged: its contents do not match"):
        read_checkpoint(newest)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CorruptCheckpoint, match="is not a ltx-trainer-checkpoint/2 checkpoint"):
        read_checkpoint(foreign)

    previous = latest_checkpoint(folder)  # skips the damaged step 4
    assert previous is not None and previous.step == 2
    resumed, reports = _run(tiny_model, placement, samples, config, resume=previous)
    assert [r.step for r in reports] == [3, 4]
    _assert_same_lora(resumed.lora_state_dict(), whole.lora_state_dict())


def test_resuming_under_different_settings_is_refused_naming_the_fields(
    tiny_model, placement, samples, tmp_path
) -> None:
    folder = tmp_path / "checkpoints"
    config = _config(steps=2)
    _run(tiny_model, placement, samples, config, checkpoints=CheckpointPolicy(folder, every=2))
    checkpoint = read_checkpoint(checkpoint_path(folder, 2))

    for changes, expected in [
        ({"rank": 8}, "rank 4 -> 8"),
        ({"learning_rate": 1e-3}, "learning_rate 0.005 -> 0.001"),
        ({"steps": 20}, "steps 2 -> 20"),
        ({"rank": 8, "audio": True}, "rank 4 -> 8, audio False -> True"),
    ]:
        trainer = LoraTrainer(tiny_model.path, placement, dataclasses.replace(config, **changes))
        with pytest.raises(CheckpointMismatch, match=f"different training config .*{expected}"):
            trainer.train(samples, resume=checkpoint)

    trainer = LoraTrainer(tiny_model.path, placement, config)
    with pytest.raises(CheckpointMismatch, match="made on 2 samples, this run has 1"):
        trainer.train(samples[:1], resume=checkpoint)


def test_a_fence_that_no_longer_holds_stops_the_run_before_it_writes_a_checkpoint(
    tiny_model, placement, samples, tmp_path
) -> None:
    from train_svc.jobs.store_contract import LeaseLost

    folder = tmp_path / "checkpoints"
    taken_over = []

    def fence() -> None:
        if taken_over:
            raise LeaseLost("j1", 1)

    def on_checkpoint(step: int, path: Path) -> None:
        taken_over.append(step)  # another replica claims the job after the first checkpoint

    policy = CheckpointPolicy(folder, every=2, on_checkpoint=on_checkpoint, fence=fence)
    with pytest.raises(LeaseLost):
        _run(tiny_model, placement, samples, _config(steps=6), checkpoints=policy)
    assert taken_over == [2] and [p.name for p in folder.glob("step-*.pt")] == ["step-000002.pt"]
