"""One retention sweep over the storage, at a given time (the clock is the caller's, so tests and the
benchmark can let days pass).

- Ended jobs: `retain_days` after a job's final state its working files go (checkpoints, bundles),
  `retain_outputs_days` after it its outputs (train_svc.retention.files). Each removal is recorded on the
  job as a FilesRemoved event after its final state (the job stays: Get answers, the record lists no
  output that is gone, DownloadArtifact says ARTIFACT_EXPIRED). Jobs not ended are never looked at.
- Generated videos: `generation_ttl_hours` after their folder last changed.
- Leftovers of deletions a crash interrupted: a job folder whose job is not in the store, untouched for
  ORPHAN_AGE, goes.

Sweeps of several replicas may run at once: removing what is already gone does nothing, and a job's
FilesRemoved is stored only as its next event (store.append_to_ended), so it is recorded once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from train_svc.generation.store import GenerationStore
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import FilePart, FilesRemoved, StateChanged
from train_svc.jobs.store_contract import JobStore, StoredJob
from train_svc.retention.files import (
    Removed,
    job_folder_ids,
    newest_change,
    part_folders,
    remove,
    remove_job_files,
)
from train_svc.retention.settings import RetentionSettings

log = structlog.get_logger(__name__)

PAGE = 500  # jobs read from the store at once
TAIL_EVENTS = 1 + len(FilePart)  # a job's final state and the FilesRemoved events that may follow it
ORPHAN_AGE = timedelta(hours=1)


@dataclass
class SweepReport:
    """What one sweep removed, by what: working_files, outputs, generations, orphans."""

    removed: dict[str, Removed] = field(default_factory=dict)

    def add(self, what: str, removed: Removed) -> None:
        self.removed[what] = self.removed.get(what, Removed()) + removed

    @property
    def bytes_freed(self) -> int:
        return sum(item.bytes_freed for item in self.removed.values())


class RetentionSweep:
    def __init__(self, store: JobStore, storage_root: Path, settings: RetentionSettings):
        self._store = store
        self._root = storage_root
        self._keep = {FilePart.WORKING_FILES: settings.retain_days, FilePart.OUTPUTS: settings.retain_outputs_days}
        self._generation_ttl = settings.generation_ttl_hours
        self._generations = GenerationStore(storage_root)

    def run(self, now: datetime, stopping: Callable[[], bool] = lambda: False) -> SweepReport:
        """Sweep as of `now`; a sweep that finds `stopping()` true ends before its next job or folder."""
        report = SweepReport()
        stored_ids: set[str] = set()
        before = None
        while rows := self._store.page(None, before, PAGE):
            for stored in rows:
                if stopping():
                    return report
                stored_ids.add(stored.id)
                if stored.state.is_final and any(self._keep.values()):
                    self._sweep_job(stored, now, report)
            before = rows[-1].number
        if self._generation_ttl:
            self._sweep_generations(now - timedelta(hours=self._generation_ttl), report)
        if not stopping():
            self._sweep_orphans(stored_ids, now, report)
        return report

    def _sweep_job(self, stored: StoredJob, now: datetime, report: SweepReport) -> None:
        tail = self._store.events(stored.id, after=max(stored.last_sequence - TAIL_EVENTS, 0))
        ended = next((e.time for e in tail if isinstance(e.event, StateChanged) and e.event.state.is_final), None)
        if ended is None:  # deleted meanwhile, or more events after its end than retention writes
            return
        done = {logged.event.part for logged in tail if isinstance(logged.event, FilesRemoved)}
        last = tail[-1].sequence
        for part, days in self._keep.items():
            if not days or part in done or now < ended + timedelta(days=days):
                continue
            removed = remove(part_folders(self._root, stored.id, part))
            logged = LoggedEvent(last + 1, datetime.now(UTC), FilesRemoved(part, removed.bytes_freed))
            if not self._store.append_to_ended(stored.id, logged):
                return  # another replica's sweep recorded it (or the job was deleted): it goes on from there
            last += 1
            report.add(part.value, removed)
            log.info(
                "job files removed by retention",
                job=stored.id,
                part=part.value,
                files=removed.files,
                bytes_freed=removed.bytes_freed,
                ended=ended.isoformat(),
                kept_days=days,
            )

    def _sweep_generations(self, before: datetime, report: SweepReport) -> None:
        for folder in self._generations.older_than(before.timestamp()):
            removed = remove([folder])
            report.add("generations", removed)
            log.info(
                "generation removed by retention",
                generation=folder.name,
                files=removed.files,
                bytes_freed=removed.bytes_freed,
                ttl_hours=self._generation_ttl,
            )

    def _sweep_orphans(self, stored_ids: set[str], now: datetime, report: SweepReport) -> None:
        """Folders of jobs no longer stored (a deletion the service did not finish), once ORPHAN_AGE old; a
        job is stored before anything of it is written, so a folder of a job just created is not one."""
        for job_id in job_folder_ids(self._root) - stored_ids:
            if newest_change(self._root, job_id) >= (now - ORPHAN_AGE).timestamp() or self._store.job(job_id):
                continue
            report.add("orphans", remove_job_files(self._root, job_id))
