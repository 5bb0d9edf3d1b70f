"""Claims by base: replicas sharing a PostgreSQL store each announce the bases they host and claim only the
jobs on those, until no live replica hosts a job's base (then any settled replica takes it, to fail it).
The SQLite store has one replica, which claims every job."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged
from train_svc.jobs.postgres_store import PostgresJobStore
from train_svc.jobs.sqlite_store import SqliteJobStore
from train_svc.jobs.store_contract import Hosting, JobStore, NewJob, base_key

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LEASE_S = 30.0
BOTH = (base_key("default", "2.3"), base_key("v25", "2.5"), base_key("", "2.3"))
DEFAULT_ONLY = (base_key("default", "2.3"), base_key("", "2.3"))


def _add(store: JobStore, job_id: str, base_id: str | None, version: str) -> None:
    """A queued job on `base_id` (None: a request stored before base ids)."""
    request = {"rank": 8} if base_id is None else {"rank": 8, "base_model": base_id}
    queued = LoggedEvent(1, T0, StateChanged(JobState.QUEUED, "waiting"))
    store.add_job(NewJob(job_id, "alice", "", request, "ltx-tiny", T0, version), queued, None)


def _claimed(store: JobStore, holder: str, hosting: Hosting) -> list[str]:
    """Every job `holder` can claim now, in claim order."""
    taken = []
    while (lease := store.claim(holder, LEASE_S, None, hosting)) is not None:
        taken.append(lease.job_id)
    return taken


@pytest.fixture
def shared(postgres_url):
    store = PostgresJobStore(postgres_url)
    yield store
    store.close()


@pytest.mark.integration  # PostgreSQL runs as a child process
def test_a_replica_leaves_the_jobs_on_a_base_it_does_not_host_to_the_live_replica_that_does(shared):
    _add(shared, "on-v25", "v25", "2.5")
    _add(shared, "on-default", "default", "2.3")
    _add(shared, "stored-before-ids", None, "2.3")
    _add(shared, "v25-at-another-version", "v25", "2.3")
    shared.announce("a", BOTH, LEASE_S)
    shared.announce("b", DEFAULT_ONLY, LEASE_S)

    assert _claimed(shared, "b", Hosting(DEFAULT_ONLY, unhosted=True)) == [
        "on-default",
        "stored-before-ids",
        "v25-at-another-version",  # nobody hosts v25 at 2.3: b takes it to fail it
    ]
    assert _claimed(shared, "a", Hosting(BOTH, unhosted=True)) == ["on-v25"]


@pytest.mark.integration
def test_a_job_whose_base_no_live_replica_hosts_goes_to_a_settled_replica_once_the_host_is_gone(shared):
    _add(shared, "on-v25", "v25", "2.5")
    shared.announce("a", BOTH, 0.5)
    shared.announce("b", DEFAULT_ONLY, LEASE_S)
    assert _claimed(shared, "b", Hosting(DEFAULT_ONLY, unhosted=True)) == []  # a is live and hosts it

    time.sleep(0.8)  # a's announcement expired: a died
    assert _claimed(shared, "b", Hosting(DEFAULT_ONLY, unhosted=False)) == []  # b has not announced for a lease
    assert _claimed(shared, "b", Hosting(DEFAULT_ONLY, unhosted=True)) == ["on-v25"]

    _add(shared, "on-v25-again", "v25", "2.5")
    shared.announce("a", BOTH, LEASE_S)  # a is back
    assert _claimed(shared, "b", Hosting(DEFAULT_ONLY, unhosted=True)) == []
    shared.withdraw("a")  # a stopped
    assert _claimed(shared, "b", Hosting(DEFAULT_ONLY, unhosted=True)) == ["on-v25-again"]


def test_the_one_replica_store_claims_every_job_whatever_it_hosts(tmp_path):
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    try:
        _add(store, "on-v25", "v25", "2.5")
        _add(store, "on-default", "default", "2.3")
        store.announce("only", DEFAULT_ONLY, LEASE_S)
        assert _claimed(store, "only", Hosting(DEFAULT_ONLY, unhosted=False)) == ["on-v25", "on-default"]
    finally:
        store.close()
