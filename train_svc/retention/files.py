"""Where a training job's files are on the storage, by part, and removing them.

    <storage>/jobs/<id>/checkpoints/   training checkpoints (working files)
    <storage>/jobs/<id>/bundles/       dataset bundles received by value (working files)
    <storage>/jobs/<id>/outputs/       the LoRA, config, previews, reports, curves, result.json (outputs)
    <storage>/jobs/<id>/               and the fence file of its last claim
    <storage>/datasets/<id>/           the fetched archive (an upload hard-linked), its bundles (working files)

The content-keyed caches (cache/preprocess, cache/latents) belong to no job, and the uploads a job read
belong to their uploader: neither is touched. A removed file frees its bytes only if it was its inode's
last link (a bundle also kept in the preprocess cache frees nothing), and that is what is counted.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from train_svc.jobs.events import FilePart

log = structlog.get_logger(__name__)

JOB_ID = re.compile(r"[0-9a-f]{16}")
JOB_AREAS = ("jobs", "datasets")  # the storage folders that hold one folder per job


@dataclass(frozen=True)
class Removed:
    files: int = 0
    bytes_freed: int = 0

    def __add__(self, other: Removed) -> Removed:
        return Removed(self.files + other.files, self.bytes_freed + other.bytes_freed)


def job_folders(storage_root: Path, job_id: str) -> list[Path]:
    """Every folder that holds files of the job (and only of it)."""
    return [storage_root / area / job_id for area in JOB_AREAS]


def part_folders(storage_root: Path, job_id: str, part: FilePart) -> list[Path]:
    job = storage_root / "jobs" / job_id
    if part is FilePart.OUTPUTS:
        return [job / "outputs"]
    return [job / "checkpoints", job / "bundles", storage_root / "datasets" / job_id]


def remove(folders: Iterable[Path]) -> Removed:
    """Remove `folders` with everything in them (missing ones are nothing to do)."""
    total = Removed()
    for folder in folders:
        files = freed = 0
        for root, _dirs, names in os.walk(folder):
            for name in names:
                try:
                    stat = os.lstat(os.path.join(root, name))
                except OSError:  # removed meanwhile (another replica's sweep)
                    continue
                files += 1
                freed += stat.st_size if stat.st_nlink == 1 else 0
        shutil.rmtree(folder, ignore_errors=True)
        total += Removed(files, freed)
    return total


def remove_job_files(storage_root: Path, job_id: str) -> Removed:
    """Every file of the job: what DeleteTrainingJob removes once the job's record is gone."""
    removed = remove(job_folders(storage_root, job_id))
    log.info("deleted job's files removed", job=job_id, files=removed.files, bytes_freed=removed.bytes_freed)
    return removed


def job_folder_ids(storage_root: Path) -> set[str]:
    """The ids of the jobs that have a folder on the storage."""
    found: set[str] = set()
    for area in JOB_AREAS:
        if (storage_root / area).is_dir():
            found.update(entry.name for entry in (storage_root / area).iterdir() if JOB_ID.fullmatch(entry.name))
    return found


def newest_change(storage_root: Path, job_id: str) -> float:
    """The newest modification time (time.time()) of the job's folders themselves; 0 when it has none."""
    times = [folder.stat().st_mtime for folder in job_folders(storage_root, job_id) if folder.exists()]
    return max(times, default=0.0)
