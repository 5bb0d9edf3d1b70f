"""The fence file: which claim of a job may write its files, for writers outside the service process.

A replica that claims a job writes the claim's fencing token to <job>/run/fence before it runs anything
for the job. Training workers learn their token with their run files and read the fence before each
write (a checkpoint): a token other than theirs means another replica has taken the job over since, so
they write nothing and stop (LeaseLost). The service process itself checks its lease in the store.
"""

from __future__ import annotations

import os
from pathlib import Path

from train_svc.jobs.store_contract import LeaseLost

FENCE_FILE = "run/fence"


def write_fence(job_dir: Path, token: int) -> None:
    path = job_dir / FENCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(str(token))
    os.replace(tmp, path)


def check_fence(job_dir: Path, token: int) -> None:
    """Raise LeaseLost unless the job's fence still holds `token`."""
    try:
        found = (job_dir / FENCE_FILE).read_text().strip()
    except OSError:
        found = ""
    if found != str(token):
        raise LeaseLost(job_dir.name, token)
