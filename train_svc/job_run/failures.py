"""The failures of training that end a job for good, as the job's error: the same wherever it trained.

A diverged loss or NaN weights, a checkpoint that cannot resume the run, and a full storage volume
would fail again on a retry; the service's runner and a training worker both report them with these
errors. Anything else is unknown here (a bug, or a rank's collective broken by another rank's death).
So would a job whose base this replica does not host (any more), or hosts at another LTX version than
the one the job recorded when it was created (`job_base`).
"""

from __future__ import annotations

from shared.disk_space import STORAGE_FULL, StorageFull, is_storage_full
from train_svc.export.lora_file import NonFiniteLora
from train_svc.jobs.events import JobError
from train_svc.models.base_model import BaseModel
from train_svc.models.base_registry import BaseModels, UnknownBaseModel
from train_svc.training.checkpoint import CheckpointError
from train_svc.training.trainer import NonFiniteLoss


class WorkersFailed(Exception):
    """The training workers ended the job: a failure they reported, or their attempts ran out."""

    def __init__(self, error: JobError):
        super().__init__(error.message)
        self.error = error


class BaseUnavailable(Exception):
    """The job's base is not hosted here, or not at the version it was created with."""

    def __init__(self, error: JobError):
        super().__init__(error.message)
        self.error = error


def job_base(bases: BaseModels, base_id: str, version: str) -> BaseModel:
    """The base with id `base_id` ("" = the default, as for jobs stored before ids) if it is at `version`."""
    shown = base_id or bases.default_id
    try:
        base = bases.get(base_id)
    except UnknownBaseModel as exc:
        message = f"the job trains on base model {shown!r} (LTX-{version}), which this service no longer hosts: {exc}"
        raise BaseUnavailable(JobError("FAILED_PRECONDITION", "BASE_MODEL_NOT_HOSTED", message)) from None
    if base.version != version:
        message = (
            f"the job was created on base model {shown!r} at LTX-{version}; that id now names "
            f"{base.name!r}, an LTX-{base.version} model: it cannot continue on another version"
        )
        raise BaseUnavailable(JobError("FAILED_PRECONDITION", "BASE_MODEL_VERSION_CHANGED", message))
    return base


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
