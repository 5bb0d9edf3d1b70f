"""The TRAINING phase of a job, the same code in the service's process and in each training worker.

`TrainingPhase` is everything the phase needs besides the samples and prompts, as plain data: the
service writes it into the job's folder for its workers (train_svc.distributed.run_files), and trains
from it itself when it runs the job alone. `train_phase` builds the trainer on the given ranks, renders
the validation previews on rank 0 at the scheduled steps (on every rank when the base is sharded over
them, rank 0 publishing) and writes checkpoints there; every event
(StepCompleted, CheckpointWritten, ValidationPreview, a preview's warning) goes to `record`, which is
the job itself in the service and the stream to the service in a worker's rank 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shared.disk_space import SpaceGuard
from train_svc.jobs.events import CheckpointWritten, JobEvent, StepCompleted
from train_svc.jobs.job import Job
from train_svc.models.device import Placement
from train_svc.training.checkpoint import Checkpoint, CheckpointPolicy
from train_svc.training.config import TrainConfig
from train_svc.training.ranks import Ranks
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample
from train_svc.validation.previews import JobPreviews, preview_requests
from train_svc.validation.renderer import EncodedPrompts, PreviewRenderer

Record = Callable[[JobEvent], object]


@dataclass(frozen=True)
class TrainingPhase:
    job_id: str
    model_path: Path
    config: TrainConfig
    settings: Any  # the job's TrainingSettings (its validation prompts and preview sizes)
    preview_steps: int  # denoising steps of each preview
    preview_seed: int  # prompt i renders with preview_seed + i
    checkpoint_dir: Path
    checkpoint_every: int
    checkpoint_keep: int
    output_dir: Path
    min_free_bytes: int  # the storage guard's reserve, checked before each checkpoint
    previews_done: frozenset[tuple[int, int]] = frozenset()  # (step, prompt index) rendered before a restart
    shard_base: bool = False  # the base sharded over the ranks (FSDP2) instead of a copy per rank


class Workers(Protocol):
    """Trains a job's phase on training workers, resuming them after a failure
    (train_svc.distributed.launcher.WorkerLauncher); returns when the last step's checkpoint is written or
    the job stops; raises when the job cannot go on."""

    def train(self, job: Job, phase: TrainingPhase, samples: list[Path], prompts: EncodedPrompts | None) -> None: ...


def train_phase(
    phase: TrainingPhase,
    placement: Placement,
    samples: Sequence[TrainingSample],
    prompts: EncodedPrompts | None,
    resume: Checkpoint | None,
    *,
    record: Record,
    should_stop: Callable[[], bool],
    ranks: Ranks | None = None,
    fence: Callable[[], None] = lambda: None,
) -> tuple[LoraTrainer, int]:
    """Train the LoRA of `phase` from `resume` (None: from the start) to its last step or a stop; return the
    trainer and the steps completed in the whole run. `fence` is called before each checkpoint is written."""
    ranks = ranks or Ranks()
    trainer = LoraTrainer(phase.model_path, placement, phase.config, ranks, shard_base=phase.shard_base)
    # A preview's forward passes through a sharded base need every rank: they all render it, in step
    # (whether to go on is agreed at each denoising step), and rank 0 publishes it. Otherwise rank 0 alone.
    preview_stop = (lambda: ranks.any(should_stop())) if trainer.sharded else should_stop
    previews = None
    if prompts is not None and (ranks.is_main or trainer.sharded):
        previews = JobPreviews(
            PreviewRenderer(phase.model_path, placement, trainer.transformer),
            preview_requests(phase.settings, phase.preview_steps, phase.preview_seed),
            prompts,
            total_steps=phase.config.steps,
            output_dir=phase.output_dir,
            with_audio=phase.config.audio,
            record=record,
            warn=record,
            done=phase.previews_done,
            should_stop=preview_stop,
            publish=ranks.is_main,
        )
        if resume is not None:  # those of the checkpoint's step, if the stop cut them
            previews.after_step(resume.step)
    started, first_step = time.perf_counter(), resume.step if resume is not None else 0

    def on_step(report: StepReport) -> None:
        pace = (time.perf_counter() - started) / (report.step - first_step)
        record(
            StepCompleted(
                step=report.step,
                total_steps=report.total_steps,
                loss=report.loss,
                learning_rate=report.learning_rate,
                step_seconds=report.step_seconds,
                eta_seconds=pace * (report.total_steps - report.step),
                video_loss=report.video_loss,
                audio_loss=report.audio_loss,
                grad_norm=report.grad_norm,
                sigmas=report.sigmas,
                sample_losses=report.sample_losses,
            )
        )
        # a cancel or shutdown skips pending previews
        if previews is not None and report.step in previews.schedule and not preview_stop():
            previews.after_step(report.step)

    def on_checkpoint(step: int, path: Path) -> None:
        record(CheckpointWritten(step, path.resolve().as_uri(), path.stat().st_size))

    policy = CheckpointPolicy(
        phase.checkpoint_dir,
        every=phase.checkpoint_every,
        keep=phase.checkpoint_keep,
        on_checkpoint=on_checkpoint,
        space=SpaceGuard(min_free_bytes=phase.min_free_bytes),
        fence=fence,
    )
    steps = trainer.train(samples, on_step=on_step, should_stop=should_stop, resume=resume, checkpoints=policy)
    return trainer, steps
