"""Launching a job's training workers with torch's elastic launcher, and seeing the attempt through.

Each attempt runs torchrun (`torch.distributed.run`, through train_svc.distributed.agent) as a child
process: one node, one rank per GPU (or per CPU process), c10d rendezvous on 127.0.0.1 with a free
port, no restarts of its own.
Before it, the run files are written with the step to resume from (the newest checkpoint). The child
gets the attempt's token in its environment, dies with the service (parent-death signal; torchrun then
stops its ranks) and logs to <job>/run/attempt-N.log.

An attempt ends in one of four ways:
- rank 0 reported the end of training: done (all steps, or a stop the job asked for);
- rank 0 reported a failure that a retry would repeat (job_run.failures): the job fails with it;
- the job is stopping (cancel or shutdown) and the workers are gone: the runner sees to the job;
- anything else (a rank killed, a node lost, an unknown error): the next attempt resumes from the
  newest checkpoint with the same step numbers, recorded as JobResumed; after `max_attempts`
  launches the job fails UNAVAILABLE / WORKER_FAILED, quoting the last attempt's exit and log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from train_svc.distributed.attempts import TOKEN_ENV, Attempt, Attempts
from train_svc.distributed.run_files import WorkerRun, run_folder, write_run
from train_svc.job_run.failures import WorkersFailed
from train_svc.job_run.training_phase import TrainingPhase
from train_svc.jobs.events import JobError, JobResumed
from train_svc.jobs.job import Job
from train_svc.training.checkpoint import latest_checkpoint
from train_svc.validation.renderer import EncodedPrompts

log = structlog.get_logger(__name__)

WORKER_FAILED = "WORKER_FAILED"
_POLL_S = 0.2
_LOG_TAIL_CHARS = 1500
_STOP_GRACE_S = 60.0  # after a stop was asked for, how long the workers get to checkpoint and leave


@dataclass(frozen=True)
class LaunchConfig:
    world_size: int
    control_target: str  # HOST:PORT of the service's WorkerControlService
    device: str  # the service's --device
    precision: str  # the service's --precision
    cpu_threads: int  # torch threads per rank
    max_attempts: int = 4


class WorkerLauncher:
    def __init__(self, config: LaunchConfig, attempts: Attempts):
        self.config = config
        self._attempts = attempts

    def train(self, job: Job, phase: TrainingPhase, samples: list[Path], prompts: EncodedPrompts | None) -> None:
        job_dir = phase.checkpoint_dir.parent
        failure, last_log = "", None
        for number in range(1, self.config.max_attempts + 1):
            newest = latest_checkpoint(phase.checkpoint_dir)
            resume_step = newest.step if newest is not None else 0
            if number > 1:
                job.resuming = True  # the steps after the checkpoint are trained again, not recorded twice
                message = (
                    f"training attempt {number - 1} failed ({failure}): attempt {number} of "
                    f"{self.config.max_attempts} continues after step {resume_step}"
                )
                job.record(JobResumed(resume_step, job.step, message))
            done = frozenset((preview.step, preview.prompt_index) for preview in job.previews)
            run = WorkerRun(
                phase=replace(phase, previews_done=done),
                attempt=number,
                world_size=self.config.world_size,
                device=self.config.device,
                precision=self.config.precision,
                sample_files=tuple(samples),
                resume_step=resume_step,
                with_prompts=prompts is not None,
            )
            write_run(job_dir, run, prompts)
            attempt = self._attempts.open(job, number, self.config.world_size)
            try:
                code, log_file = self._run(job, job_dir, attempt)
            finally:
                self._attempts.close(attempt)
            outcome = attempt.outcome
            if outcome is not None and outcome.error is not None:
                raise WorkersFailed(outcome.error)
            if (code == 0 and outcome is not None) or job.should_stop:
                return
            failure = f"exit code {code}" + ("" if outcome is not None else ", rank 0 did not report")
            log.warning("training attempt failed", job=job.id, attempt=number, exit_code=code, log=str(log_file))
            last_log = log_file
        raise WorkersFailed(
            JobError(
                "UNAVAILABLE",
                WORKER_FAILED,
                f"the training workers failed {self.config.max_attempts} times; the last attempt: {failure}; "
                f"its log ends: {_tail(last_log)}",
            )
        )

    def _run(self, job: Job, job_dir: Path, attempt: Attempt) -> tuple[int, Path]:
        """Launch the attempt's workers and wait for them; return torchrun's exit code and its log file."""
        log_file = run_folder(job_dir) / f"attempt-{attempt.number}.log"
        command = [
            sys.executable,
            "-m",
            "train_svc.distributed.agent",
            str(os.getpid()),
            "--nnodes=1",
            f"--nproc-per-node={self.config.world_size}",
            "--rdzv-backend=c10d",
            "--rdzv-endpoint=127.0.0.1:0",
            "--local-addr=127.0.0.1",
            "--max-restarts=0",
            "--monitor-interval=0.5",
            "-m",
            "train_svc.worker",
            f"--job-dir={job_dir}",
            f"--control={self.config.control_target}",
        ]
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "GLOO_SOCKET_IFNAME": "lo",  # else gloo binds the address the host name resolves to
            "OMP_NUM_THREADS": str(self.config.cpu_threads),
            TOKEN_ENV: attempt.token,
        }
        started = time.monotonic()
        with open(log_file, "wb") as out:
            child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            log.info("training workers launched", job=job.id, attempt=attempt.number, pid=child.pid)
            stop_seen: float | None = None
            while (code := child.poll()) is None:
                time.sleep(_POLL_S)
                if job.should_stop and stop_seen is None:
                    stop_seen = time.monotonic()
                if stop_seen is not None and time.monotonic() - stop_seen > _STOP_GRACE_S:
                    child.terminate()  # torchrun stops its ranks on SIGTERM
                    code = child.wait()
                    break
        log.info("training workers ended", job=job.id, exit_code=code, seconds=round(time.monotonic() - started, 1))
        return code, log_file


def _tail(path: Path | None) -> str:
    if path is None:
        return "(none)"
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc})"
    return text[-_LOG_TAIL_CHARS:].strip() or "(empty)"
