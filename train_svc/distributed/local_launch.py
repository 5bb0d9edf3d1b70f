"""An attempt's workers on this machine: torchrun (`torch.distributed.run`, through
train_svc.distributed.agent) as a child process: one node, one rank per GPU (or per CPU process), c10d
rendezvous on 127.0.0.1 with a free port, no restarts of its own. The child gets the attempt's token in
its environment, dies with the service (parent-death signal; torchrun then stops its ranks) and logs to
<job>/run/attempt-N.log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import structlog

from train_svc.distributed.attempts import TOKEN_ENV, Attempt
from train_svc.distributed.launcher import AttemptEnd, LaunchConfig, wait_for_workers
from train_svc.distributed.run_files import run_folder
from train_svc.jobs.job import Job

log = structlog.get_logger(__name__)


class LocalLaunch:
    def __init__(self, config: LaunchConfig):
        self._config = config

    def run(self, job: Job, job_dir: Path, attempt: Attempt) -> AttemptEnd:
        log_file = run_folder(job_dir) / f"attempt-{attempt.number}.log"
        command = [
            sys.executable,
            "-m",
            "train_svc.distributed.agent",
            str(os.getpid()),
            "--nnodes=1",
            f"--nproc-per-node={self._config.world_size}",
            "--rdzv-backend=c10d",
            "--rdzv-endpoint=127.0.0.1:0",
            "--local-addr=127.0.0.1",
            "--max-restarts=0",
            "--monitor-interval=0.5",
            "-m",
            "train_svc.worker",
            f"--job-dir={job_dir}",
            f"--control={self._config.control_target}",
        ]
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "GLOO_SOCKET_IFNAME": "lo",  # else gloo binds the address the host name resolves to
            "OMP_NUM_THREADS": str(self._config.cpu_threads),
            TOKEN_ENV: attempt.token,
        }
        started = time.monotonic()
        with open(log_file, "wb") as out:
            child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            log.info("training workers launched", job=job.id, attempt=attempt.number, pid=child.pid)
            if not wait_for_workers(job, lambda: child.poll() is not None):
                child.terminate()  # torchrun stops its ranks on SIGTERM
            code = child.wait()
        log.info("training workers ended", job=job.id, exit_code=code, seconds=round(time.monotonic() - started, 1))
        return AttemptEnd(finished=code == 0, failure=f"exit code {code}", log=log_file)
