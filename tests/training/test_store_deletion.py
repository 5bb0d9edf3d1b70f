"""Deleting jobs and retention's events after a job's end, held to one contract by both stores (SQLite,
and a real PostgreSQL in the integration tier): only an ended job no replica holds is deleted, with its
events, and a DELETED change; retention's event is stored once however many sweeps race for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import FilePart, FilesRemoved, JobState, StateChanged
from train_svc.jobs.postgres_store import PostgresJobStore
from train_svc.jobs.sqlite_store import SqliteJobStore
from train_svc.jobs.store_contract import ChangeKind, Deletion, JobStore, NewJob, Notice, NoticeKind

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store(request, tmp_path):
    if request.param == "sqlite":
        opened: JobStore = SqliteJobStore(tmp_path / "jobs.sqlite3")
    else:
        opened = PostgresJobStore(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def _event(sequence: int, event) -> LoggedEvent:
    return LoggedEvent(sequence, T0 + timedelta(seconds=sequence), event)


def _ended_job(store: JobStore, job_id: str, owner: str = "alice") -> None:
    """A job that ran on a replica, ended SUCCEEDED, and let its lease go."""
    new = NewJob(job_id, owner, "", {"job": job_id}, "ltx2.3-tiny", T0, "2.3")
    store.add_job(new, _event(1, StateChanged(JobState.QUEUED)), None)
    lease = store.claim("replica-a", 30.0, None)
    assert lease is not None and lease.job_id == job_id
    store.append_event(job_id, _event(2, StateChanged(JobState.SUCCEEDED)), lease)
    store.release(lease)


def test_an_ended_job_is_deleted_with_its_events_and_a_deleted_change(store):
    _ended_job(store, "j1")
    _ended_job(store, "j2")
    notices: list[Notice] = []
    store.notices.subscribe(notices.append)
    before = store.change_bounds()[1]
    assert store.delete("j1") is Deletion.DELETED
    assert store.job("j1") is None and store.events("j1") == [] and store.job_ids("alice") == ["j2"]
    changes = store.changes(before, "alice", 10)
    assert [(c.job_id, c.kind, c.sequence) for c in changes] == [("j1", ChangeKind.DELETED, 2)]
    assert store.changes(before, "bob", 10) == []
    assert store.state_counts() == {JobState.SUCCEEDED: 1}
    assert store.delete("j1") is Deletion.ABSENT  # a second delete finds nothing
    deadline = datetime.now(UTC) + timedelta(seconds=5)  # PostgreSQL's notices come through its listener
    while Notice(NoticeKind.DELETED, "j1", 2) not in notices and datetime.now(UTC) < deadline:
        store.job("j2")
    assert Notice(NoticeKind.DELETED, "j1", 2) in notices


def test_a_job_not_ended_or_still_held_is_not_deleted(store):
    store.add_job(
        NewJob("j1", "alice", "", {}, "ltx2.3-tiny", T0, "2.3"), _event(1, StateChanged(JobState.QUEUED)), None
    )
    assert store.delete("j1") is Deletion.UNFINISHED
    lease = store.claim("replica-a", 30.0, None)
    assert lease is not None
    store.append_event("j1", _event(2, StateChanged(JobState.CANCELLED)), lease)
    assert store.delete("j1") is Deletion.UNFINISHED  # ended, but its runner has not let it go yet
    store.release(lease)
    assert store.delete("j1") is Deletion.DELETED


def test_retention_records_its_removal_once_after_the_end_of_an_unheld_job(store):
    _ended_job(store, "j1")
    removed = _event(3, FilesRemoved(FilePart.OUTPUTS, 1234))
    assert store.append_to_ended("j1", removed)
    assert not store.append_to_ended("j1", removed)  # another sweep's, racing: stored once
    assert not store.append_to_ended("absent", removed)
    stored = store.job("j1")
    assert stored is not None and stored.state is JobState.SUCCEEDED and stored.last_sequence == 3
    assert store.events("j1", after=2) == [removed]
    store.add_job(
        NewJob("j2", "alice", "", {}, "ltx2.3-tiny", T0, "2.3"), _event(1, StateChanged(JobState.QUEUED)), None
    )
    assert not store.append_to_ended("j2", _event(2, FilesRemoved(FilePart.OUTPUTS, 0)))  # not ended
    assert store.delete("j1") is Deletion.DELETED
