"""The failures of training that end a job for good, as the job's error: the same wherever it trained.

A diverged loss or NaN weights, a checkpoint that cannot resume the run, and a full storage volume
would fail again on a retry; the service's runner and a training worker both report them with these
errors. Anything else is unknown here (a bug, or a rank's collective broken by another rank's death).
"""

from __future__ import annotations

from shared.disk_space import STORAGE_FULL, StorageFull, is_storage_full
from train_svc.export.lora_file import NonFiniteLora
from train_svc.jobs.events import JobError
from train_svc.training.checkpoint import CheckpointError
from train_svc.training.trainer import NonFiniteLoss


class WorkersFailed(Exception):
    """The training workers ended the job: a failure they reported, or their attempts ran out."""

    def __init__(self, error: JobError):
        super().__init__(error.message)
        self.error = error


def training_error(exc: BaseException) -> JobError | None:
    """The job's error for a known failure of training; None for anything else."""
    if isinstance(exc, NonFiniteLoss | NonFiniteLora):
        return JobError("ABORTED", "NON_FINITE_WEIGHTS", str(exc))
    if isinstance(exc, CheckpointError):
        return JobError("FAILED_PRECONDITION", "CHECKPOINT_UNUSABLE", f"cannot resume: {exc}")
    if is_storage_full(exc):
        message = exc.message if isinstance(exc, StorageFull) else f"the storage volume is full: {exc}"
        return JobError("RESOURCE_EXHAUSTED", STORAGE_FULL, message)
    return None
