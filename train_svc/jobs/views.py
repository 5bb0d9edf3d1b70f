"""Jobs as their stored events leave them, for answering calls about jobs this replica does not run.

A view is rebuilt from the store's events once, then brought up to date with only the events stored
since (the store says each job's last sequence number, so an unchanged job costs one row). The most
recently used views are kept, at most `size`: memory does not grow with the number of jobs stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from train_svc.jobs.job import Job
from train_svc.jobs.store_contract import JobStore, StoredJob

log = structlog.get_logger(__name__)

SettingsOf = Callable[[dict[str, Any]], Any]  # a stored request (JSON) -> its resolved settings
# Jobs stored before batch_size existed trained one sample per step; they keep doing so when they resume.
STORED_JOB_BATCH_SIZE = 1
VIEWS_KEPT = 256


class UnreadableJob(Exception):
    """A stored job this version cannot rebuild (e.g. a request today's rules refuse)."""


def job_settings(stored: StoredJob, settings_of: SettingsOf) -> Any:
    try:
        settings = settings_of(stored.input_json)
    except Exception as exc:
        raise UnreadableJob(f"job {stored.id}: its stored request is not valid today: {exc}") from exc
    return replace(settings, batch_size=STORED_JOB_BATCH_SIZE) if settings.batch_size is None else settings


def job_fields(stored: StoredJob, settings: Any) -> dict[str, Any]:
    """A job's fields that are not derived from its events."""
    return {
        "id": stored.id,
        "owner": stored.owner,
        "settings": settings,
        "input_json": stored.input_json,
        "base_model": stored.base_model,
        "base_version": stored.base_version,
        "create_time": stored.create_time,
    }


class JobViews:
    def __init__(self, store: JobStore, settings_of: SettingsOf, size: int = VIEWS_KEPT):
        self._store = store
        self._settings_of = settings_of
        self._size = size
        self._lock = threading.Lock()
        self._views: OrderedDict[str, Job] = OrderedDict()
        self._unreadable: set[str] = set()  # logged once each

    def at_least(self, job_id: str, sequence: int) -> Job | None:
        """The job as of its event `sequence` or later; None when it is gone or cannot be rebuilt."""
        with self._lock:
            view = self._views.get(job_id)
            if view is not None and view.sequence >= sequence:
                self._views.move_to_end(job_id)
                return view
        stored = self._store.job(job_id)
        return None if stored is None else self.of(stored)

    def of(self, stored: StoredJob) -> Job | None:
        """The job as of its stored events; None (logged) when it cannot be rebuilt."""
        with self._lock:
            view = self._views.get(stored.id)
            if view is not None:
                self._views.move_to_end(stored.id)
                if view.sequence == stored.last_sequence:
                    return view
        try:
            if view is None:
                view = Job(**job_fields(stored, job_settings(stored, self._settings_of)))
            newer = self._store.events(stored.id, after=view.sequence)
            with self._lock:  # another call may have applied some of them meanwhile
                view.catch_up([item for item in newer if item.sequence > view.sequence])
                self._views[stored.id] = view
                while len(self._views) > self._size:
                    self._views.popitem(last=False)
        except (UnreadableJob, ValueError) as exc:
            if stored.id not in self._unreadable:
                self._unreadable.add(stored.id)
                log.error("stored job cannot be rebuilt: it stays stored, unserved", job=stored.id, error=str(exc))
            return None
        return view
