"""An attempt's workers started by something else: a Kubeflow TrainJob, torchrun on other nodes, Slurm.

The service writes the attempt's token into the job's run folder (owner-only, beside run.json, which
says the attempt's number) and waits for rank 0 to connect to the control port with it: at most
`connect_seconds`, then the attempt counts as failed. Once connected, the attempt lasts as long as rank
0's control stream. The token file is removed when the attempt ends, so a worker started after that
cannot join it. Whoever starts the workers restarts them after a failed attempt: by then the next
attempt's run files and token are written.
"""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from train_svc.distributed.attempts import Attempt
from train_svc.distributed.launcher import POLL_S, STOP_GRACE_S, AttemptEnd, wait_for_workers
from train_svc.distributed.run_files import remove_token, write_token
from train_svc.jobs.job import Job

log = structlog.get_logger(__name__)


class ExternalLaunch:
    def __init__(self, control_port: int, connect_seconds: float):
        self._control_port = control_port
        self._connect_seconds = connect_seconds

    def run(self, job: Job, job_dir: Path, attempt: Attempt) -> AttemptEnd:
        write_token(job_dir, attempt.token)
        try:
            log.info(
                "waiting for training workers",
                job=job.id,
                attempt=attempt.number,
                world_size=attempt.world_size,
                job_dir=str(job_dir),  # the workers' --job-dir, where this service's storage is mounted
                control_port=self._control_port,
                connect_seconds=self._connect_seconds,
            )
            deadline = time.monotonic() + self._connect_seconds
            while not attempt.connected.wait(POLL_S):
                if job.should_stop:
                    return AttemptEnd(finished=False, failure="stopped before the workers connected")
                if time.monotonic() > deadline:
                    return AttemptEnd(
                        finished=False, failure=f"rank 0 did not connect within {self._connect_seconds:g} s"
                    )
            if not wait_for_workers(job, attempt.ended.is_set):
                return AttemptEnd(finished=False, failure=f"the workers did not stop within {STOP_GRACE_S:g} s")
            finished = attempt.outcome is not None
            return AttemptEnd(finished=finished, failure="" if finished else "rank 0's control stream broke off")
        finally:
            remove_token(job_dir)
