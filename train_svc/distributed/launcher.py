"""Seeing a job's training on workers through: its attempts, and how each one ended.

Before each attempt the run files are written with the step to resume from (the newest checkpoint);
then the attempt's workers are started and awaited by a `Launch`: `LocalLaunch` runs torchrun on this
machine, `ExternalLaunch` waits for workers that something else starts (a TrainJob, torchrun on other
nodes).

An attempt ends in one of four ways:
- rank 0 reported the end of training: done (all steps, or a stop the job asked for);
- rank 0 reported a failure that a retry would repeat (job_run.failures): the job fails with it;
- the job is stopping (cancel or shutdown) and the workers are gone: the runner sees to the job;
- anything else (a rank killed, a node lost, rank 0 never connected, an unknown error): the next
  attempt resumes from the newest checkpoint with the same step numbers, recorded as JobResumed; after
  `max_attempts` attempts the job fails UNAVAILABLE / WORKER_FAILED, quoting the last attempt's failure
  (and its log's end, where the service has one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import structlog

from train_svc.distributed.attempts import Attempt, Attempts
from train_svc.distributed.run_files import WorkerRun, write_run
from train_svc.job_run.failures import WorkersFailed
from train_svc.job_run.training_phase import TrainingPhase
from train_svc.jobs.events import JobError, JobResumed
from train_svc.jobs.job import Job
from train_svc.training.checkpoint import latest_checkpoint
from train_svc.validation.renderer import EncodedPrompts

log = structlog.get_logger(__name__)

WORKER_FAILED = "WORKER_FAILED"
STOP_GRACE_S = 60.0  # after a stop was asked for, how long the workers get to checkpoint and leave
POLL_S = 0.2
_LOG_TAIL_CHARS = 1500


@dataclass(frozen=True)
class LaunchConfig:
    world_size: int
    control_target: str  # HOST:PORT of the service's WorkerControlService, as the workers reach it
    device: str  # the service's --device
    precision: str  # the service's --precision
    cpu_threads: int  # torch threads per rank
    base_weights: str = "auto"  # the service's --base-weights
    offload_blocks: int = 0  # the service's --offload-blocks
    max_attempts: int = 4
    shard_base: bool = False  # FSDP2 over the ranks instead of DDP


@dataclass(frozen=True)
class AttemptEnd:
    """How an attempt's workers went: `finished` when they ended as they should (what rank 0 reported, if
    anything, is on the attempt); otherwise `failure` says what happened, and `log` is theirs if kept here."""

    finished: bool
    failure: str = ""
    log: Path | None = None


class Launch(Protocol):
    def run(self, job: Job, job_dir: Path, attempt: Attempt) -> AttemptEnd:
        """Start (or await) the attempt's workers and return once they are gone."""
        ...


class WorkerLauncher:
    def __init__(self, config: LaunchConfig, attempts: Attempts, launch: Launch):
        self.config = config
        self._attempts = attempts
        self._launch = launch

    def train(self, job: Job, phase: TrainingPhase, samples: list[Path], prompts: EncodedPrompts | None) -> None:
        job_dir = phase.checkpoint_dir.parent
        end = AttemptEnd(finished=False)
        for number in range(1, self.config.max_attempts + 1):
            newest = latest_checkpoint(phase.checkpoint_dir)
            resume_step = newest.step if newest is not None else 0
            if number > 1:
                job.resuming = True  # the steps after the checkpoint are trained again, not recorded twice
                message = (
                    f"training attempt {number - 1} failed ({end.failure}): attempt {number} of "
                    f"{self.config.max_attempts} continues after step {resume_step}"
                )
                job.record(JobResumed(resume_step, job.step, message))
            done = frozenset((preview.step, preview.prompt_index) for preview in job.previews)
            run = WorkerRun(
                phase=replace(phase, previews_done=done, shard_base=self.config.shard_base),
                attempt=number,
                world_size=self.config.world_size,
                device=self.config.device,
                precision=self.config.precision,
                base_weights=self.config.base_weights,
                offload_blocks=self.config.offload_blocks,
                sample_files=tuple(samples),
                resume_step=resume_step,
                with_prompts=prompts is not None,
                fence=job.lease_token,
            )
            write_run(job_dir, run, prompts)
            attempt = self._attempts.open(job, number, self.config.world_size)
            try:
                end = self._launch.run(job, job_dir, attempt)
            finally:
                self._attempts.close(attempt)
            outcome = attempt.outcome
            if outcome is not None and outcome.error is not None:
                raise WorkersFailed(outcome.error)
            if (end.finished and outcome is not None) or job.should_stop:
                return
            if end.finished:  # the workers ended well, but rank 0 never said how training went
                end = replace(end, failure=f"{end.failure}, rank 0 did not report")
            log.warning("training attempt failed", job=job.id, attempt=number, failure=end.failure, log=str(end.log))
        tail = f"; its log ends: {_tail(end.log)}" if end.log is not None else ""
        raise WorkersFailed(
            JobError(
                "UNAVAILABLE",
                WORKER_FAILED,
                f"the training workers failed {self.config.max_attempts} times; the last attempt: {end.failure}{tail}",
            )
        )


def wait_for_workers(job: Job, gone: Callable[[], bool]) -> bool:
    """Wait until `gone()`; False when the job asked to stop over STOP_GRACE_S ago and the workers are not."""
    stop_seen: float | None = None
    while not gone():
        time.sleep(POLL_S)
        if job.should_stop and stop_seen is None:
            stop_seen = time.monotonic()
        if stop_seen is not None and time.monotonic() - stop_seen > STOP_GRACE_S:
            return False
    return True


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc})"
    return text[-_LOG_TAIL_CHARS:].strip() or "(empty)"
