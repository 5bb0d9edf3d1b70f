"""Per-principal limits on jobs and storage, so that no one tenant starves the others.

- queued_jobs: at most this many of a principal's jobs wait QUEUED; CreateTrainingJob beyond it is
  RESOURCE_EXHAUSTED (QuotaFailure).
- running_jobs: at most this many of a principal's jobs run at once; the scheduler passes over the
  principal's further jobs (other principals' jobs start first) until one of theirs ends.
- storage_bytes: what a principal's objects occupy on the storage volume (its jobs' folders and
  datasets, its uploads, generations and cache entries; a file hard-linked twice counts once) must be
  below this when new work is admitted (CreateTrainingJob, GenerateVideo, UploadArchive).
None means unlimited (the default).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import Field

from shared.auth import owner_key
from shared.disk_space import QuotaStorageBytes
from shared.request.errors import QuotaExceeded
from shared.settings import Setting, SettingsModel


class Quotas(SettingsModel):
    running_jobs: Annotated[
        int | None, Setting("--quota-running-jobs", "LTX_QUOTA_RUNNING_JOBS", "per principal: jobs running at once")
    ] = Field(None, ge=1)
    queued_jobs: Annotated[
        int | None, Setting("--quota-queued-jobs", "LTX_QUOTA_QUEUED_JOBS", "per principal: jobs waiting")
    ] = Field(None, ge=0)
    storage_bytes: QuotaStorageBytes = None


def principal_folders(storage_root: Path, principal: str, job_ids: Iterable[str]) -> list[Path]:
    """Every folder of the storage layout that holds `principal`'s objects."""
    key = owner_key(principal)
    folders = [storage_root / "jobs" / job_id for job_id in job_ids]
    folders += [storage_root / "datasets" / job_id for job_id in job_ids]
    folders += [storage_root / area / key for area in ("uploads", "generations")]
    folders += [storage_root / "cache" / cache / key for cache in ("preprocess", "latents")]
    return folders


def check_storage(quota: int | None, principal: str, used: int) -> None:
    if quota is not None and used >= quota:
        raise QuotaExceeded(
            f"principal:{principal}",
            "storage_bytes",
            f"{principal} stores {used:,} bytes on this service, at or over its storage quota of {quota:,} bytes; "
            "no new work is admitted until that drops",
        )
