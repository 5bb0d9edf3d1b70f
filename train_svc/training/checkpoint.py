"""Checkpoints of a LoRA training run: everything needed to continue exactly as if never interrupted.

A checkpoint is one file, `<folder>/step-000123.pt`, written with `torch.save` to a temp file in the
same folder, fsynced, renamed over the final name and the folder fsynced, so a crash leaves either the
old set of files or the new one, never a partial checkpoint under a checkpoint's name. One file keeps
the LoRA, optimizer and RNG state consistent with each other (a pair of files could be torn apart),
and torch.save stores the optimizer and scheduler state dicts as they are, with no conversion to get
subtly wrong. Loading uses `torch.load(weights_only=True)`, which only rebuilds tensors and plain
containers and never runs code from the file. torch's zip reader does not notice flipped bytes inside
a tensor, so the payload carries a SHA-256 of its own contents, checked on every load.

No random state is stored: every random draw of a step (sigmas, noise, data order) comes from a
generator keyed by the seed, the step and the sample (training/sample_rng.py), so the step is all a
resumed run needs; tests check that a training step leaves the global RNG alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import structlog
import torch

from shared.disk_space import NO_RESERVE, SpaceGuard
from train_svc.training.config import TrainConfig
from train_svc.training.content_digest import content_digest

log = structlog.get_logger(__name__)

FORMAT = "ltx-trainer-checkpoint/2"  # 2: batch size in the config, no generator state
NAME = re.compile(r"step-(\d{6,})\.pt")


class CheckpointError(Exception):
    """A checkpoint cannot be used to resume this run."""


class CorruptCheckpoint(CheckpointError):
    """The file is truncated, damaged or not a checkpoint of this trainer."""


class CheckpointMismatch(CheckpointError):
    """The checkpoint belongs to a run with different settings or data."""


@dataclass(frozen=True)
class Checkpoint:
    step: int  # steps completed
    config: TrainConfig
    lora: dict[str, torch.Tensor]  # LoRA parameters by peft module name, in the training dtype
    optimizer: dict[str, Any]  # AdamW state_dict
    scheduler: dict[str, Any]  # LinearLR state_dict
    sample_count: int  # samples the run trains on (the data order depends on it)

    def require_config(self, config: TrainConfig) -> None:
        """Refuse to continue under a config other than the one this checkpoint was made with."""
        differing = [
            f"{f.name} {getattr(self.config, f.name)!r} -> {getattr(config, f.name)!r}"
            for f in fields(TrainConfig)
            if getattr(self.config, f.name) != getattr(config, f.name)
        ]
        if differing:
            raise CheckpointMismatch(
                f"the checkpoint at step {self.step} was made with a different training config "
                f"(checkpoint -> now): {', '.join(differing)}"
            )


@dataclass(frozen=True)
class CheckpointPolicy:
    """When and where `LoraTrainer.train` writes checkpoints; `on_checkpoint(step, path)` after each."""

    folder: Path
    every: int  # steps
    keep: int = 2  # the newest checkpoints kept in `folder`; older ones are deleted
    on_checkpoint: Callable[[int, Path], None] = lambda step, path: None
    space: SpaceGuard = NO_RESERVE  # checked before each checkpoint is written
    fence: Callable[[], None] = lambda: None  # raises when this process may no longer write the job's files

    def write(self, step: int, checkpoint: Checkpoint) -> None:
        """Write `checkpoint` once the fence holds, rotate the older ones, and announce it."""
        self.fence()
        self.on_checkpoint(step, write_checkpoint(self.folder, checkpoint, keep=self.keep, space=self.space))

    def __post_init__(self) -> None:
        if self.every < 1 or self.keep < 1:
            raise ValueError(f"checkpoint every and keep must be >= 1, got {self.every} and {self.keep}")


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:06d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoint files in `folder`, oldest first; any other file is not one."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := NAME.fullmatch(p.name)) and p.is_file()]
    return sorted(found)


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def write_checkpoint(folder: Path, checkpoint: Checkpoint, keep: int = 2, space: SpaceGuard = NO_RESERVE) -> Path:
    """Write `checkpoint` atomically into `folder`, then keep only the `keep` newest there.

    `space` is checked first with the checkpoint's size: a volume too full fails with StorageFull before
    anything is written."""
    space.check(folder, _tensor_bytes([checkpoint.lora, checkpoint.optimizer]) + (1 << 20))
    folder.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(folder, checkpoint.step)
    tmp = folder / f".{path.name}.tmp"
    payload = {
        "format": FORMAT,
        "step": checkpoint.step,
        "config": asdict(checkpoint.config),
        "lora": {name: t.detach().cpu() for name, t in checkpoint.lora.items()},
        "optimizer": checkpoint.optimizer,
        "scheduler": checkpoint.scheduler,
        "sample_count": checkpoint.sample_count,
    }
    payload["sha256"] = content_digest(payload)
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    removed = _rotate(folder, keep, checkpoint.step)
    log.info("checkpoint written", path=str(path), step=checkpoint.step, removed=[p.name for p in removed])
    return path


def read_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint, refusing (CorruptCheckpoint) anything truncated, damaged or foreign."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptCheckpoint(f"checkpoint {path} is unreadable (truncated or damaged): {reason}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else None
        raise CorruptCheckpoint(f"{path} is not a {FORMAT} checkpoint" + (f" (it is {found})" if found else ""))
    if payload.pop("sha256", None) != content_digest(payload):
        raise CorruptCheckpoint(f"checkpoint {path} is damaged: its contents do not match their SHA-256")
    try:
        config = TrainConfig(**payload["config"])
    except TypeError as exc:
        raise CorruptCheckpoint(f"checkpoint {path} has a training config this version cannot read: {exc}") from exc
    return Checkpoint(
        step=payload["step"],
        config=config,
        lora=payload["lora"],
        optimizer=payload["optimizer"],
        scheduler=payload["scheduler"],
        sample_count=payload["sample_count"],
    )


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The newest readable checkpoint in `folder` (skipping damaged ones, with a warning), or None."""
    for step, path in reversed(list_checkpoints(folder)):
        try:
            return read_checkpoint(path)
        except CorruptCheckpoint as exc:
            log.warning("skipping a damaged checkpoint", path=str(path), step=step, error=str(exc))
    return None


def _rotate(folder: Path, keep: int, newest: int) -> list[Path]:
    """Delete checkpoints beyond the `keep` newest up to step `newest`, and any past it: those are
    left from an attempt that a resume from an older checkpoint has replaced."""
    existing = list_checkpoints(folder)
    current = [path for step, path in existing if step <= newest]
    doomed = current[:-keep] + [path for step, path in existing if step > newest]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
