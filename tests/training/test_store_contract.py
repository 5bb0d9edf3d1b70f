"""One contract, two stores: the embedded SQLite file and PostgreSQL (a real server, tests.postgres_server)
pass the same tests. What only one of them does (SQLite's single owner, PostgreSQL's several replicas)
is tested beside them."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged, StepCompleted
from train_svc.jobs.postgres_store import PostgresJobStore
from train_svc.jobs.sqlite_store import SqliteJobStore
from train_svc.jobs.store_contract import (
    ChangeKind,
    JobStore,
    Lease,
    LeaseLost,
    NewJob,
    Notice,
    NoticeKind,
    OutOfSequence,
    QueueFull,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LEASE_S = 30.0


# PostgreSQL runs as a child process: its cases are in the integration tier.
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store(request, tmp_path):
    if request.param == "sqlite":
        opened: JobStore = SqliteJobStore(tmp_path / "jobs.sqlite3")
    else:
        opened = PostgresJobStore(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def _event(sequence: int, event, seconds: int = 0) -> LoggedEvent:
    return LoggedEvent(sequence, T0 + timedelta(seconds=sequence + seconds), event)


def _add(store: JobStore, job_id: str, owner: str = "alice", request_id: str = "", queued_limit: int | None = None):
    new = NewJob(job_id, owner, request_id, {"rank": 8, "job": job_id}, "ltx2.3-tiny", T0, "2.3")
    return store.add_job(new, _event(1, StateChanged(JobState.QUEUED, "waiting")), queued_limit)


def _step(sequence: int, step: int) -> LoggedEvent:
    return _event(sequence, StepCompleted(step, 10, 0.5, 2e-4, 0.1, 9.9, 0.3, 0.2))


def test_a_new_job_is_stored_with_its_first_event_and_numbered_in_creation_order(store):
    first, created = _add(store, "j1", request_id="r1")
    second, _ = _add(store, "j2")
    assert created and (first.number, second.number) == (1, 2)
    assert store.job("j1") == first and store.job("nope") is None
    assert (first.owner, first.request_id, first.input_json, first.base_model) == (
        "alice",
        "r1",
        {"rank": 8, "job": "j1"},
        "ltx2.3-tiny",
    )
    assert first.create_time == T0 and first.state is JobState.QUEUED and first.last_sequence == 1
    assert [(e.sequence, e.event) for e in store.events("j1")] == [(1, StateChanged(JobState.QUEUED, "waiting"))]


def test_a_request_id_makes_one_job_per_owner(store):
    first, _ = _add(store, "j1", request_id="r1")
    again, created = _add(store, "j2", request_id="r1")
    assert not created and again == first and store.job("j2") is None
    assert store.find_request("alice", "r1") == first and store.find_request("bob", "r1") is None
    _, created_for_bob = _add(store, "j3", owner="bob", request_id="r1")
    assert created_for_bob


def test_a_queue_quota_counts_the_owners_queued_jobs_only(store):
    _add(store, "j1", queued_limit=2)
    _add(store, "j2", queued_limit=2)
    with pytest.raises(QueueFull) as full:
        _add(store, "j3", queued_limit=2)
    assert full.value.queued == 2 and store.job("j3") is None
    _add(store, "j4", owner="bob", queued_limit=2)
    lease = store.claim("replica-a", LEASE_S, None)
    assert lease is not None
    store.append_event(lease.job_id, _event(2, StateChanged(JobState.PREPROCESSING)), lease)
    _add(store, "j5", queued_limit=2)  # j1 no longer waits


def test_pages_run_newest_first_per_owner_or_for_everyone(store):
    for number in range(1, 8):
        _add(store, f"j{number}", owner="alice" if number % 2 else "bob")
    assert [job.id for job in store.page("alice", None, 3)] == ["j7", "j5", "j3"]
    assert [job.id for job in store.page("alice", 3, 3)] == ["j1"]
    assert [job.id for job in store.page(None, 5, 10)] == ["j4", "j3", "j2", "j1"]
    assert store.job_ids("bob") == ["j2", "j4", "j6"]


def test_events_are_stored_only_in_sequence_by_the_leaseholder(store):
    _add(store, "j1")
    lease = store.claim("replica-a", LEASE_S, None)
    assert lease is not None and lease.job_id == "j1"
    store.append_event("j1", _event(2, StateChanged(JobState.TRAINING)), lease)
    store.append_event("j1", _step(3, 1), lease)
    with pytest.raises(OutOfSequence, match="event 5 of job j1 is not its next one"):
        store.append_event("j1", _step(5, 2), lease)
    with pytest.raises(LeaseLost):
        store.append_event("j1", _step(4, 2), Lease("j1", "replica-b", lease.token))
    assert [e.sequence for e in store.events("j1")] == [1, 2, 3]
    assert [e.sequence for e in store.events("j1", after=1, limit=1)] == [2]
    assert store.events("j1", after=1)[1] == _step(3, 1)
    stored = store.job("j1")
    assert stored is not None and stored.state is JobState.TRAINING and stored.last_sequence == 3


def test_claims_take_resuming_jobs_first_then_the_oldest_queued_one_each_job_once(store):
    for number in (1, 2, 3):
        _add(store, f"j{number}")
    first = store.claim("replica-a", LEASE_S, None)
    assert first is not None and first.job_id == "j1"
    store.append_event("j1", _event(2, StateChanged(JobState.TRAINING)), first)
    second = store.claim("replica-b", LEASE_S, None)
    assert second is not None and second.job_id == "j2"
    store.release(first)  # j1 is unfinished and held by no one: it comes before the queued j3
    again = store.claim("replica-b", LEASE_S, None)
    assert again is not None and again.job_id == "j1" and again.token > first.token
    third = store.claim("replica-a", LEASE_S, None)
    assert third is not None and third.job_id == "j3"
    assert store.claim("replica-a", LEASE_S, None) is None


def test_an_expired_lease_is_claimed_again_and_the_old_holder_is_fenced_off(store):
    _add(store, "j1")
    old = store.claim("replica-a", 0.2, None)
    assert old is not None
    assert store.claim("replica-b", LEASE_S, None) is None  # still held
    time.sleep(0.3)
    new = store.claim("replica-b", LEASE_S, None)
    assert new is not None and new.job_id == "j1" and new.token > old.token
    assert store.renew(old, LEASE_S) is None  # the old holder learns it lost the job
    with pytest.raises(LeaseLost, match="lost"):
        store.append_event("j1", _event(2, StateChanged(JobState.TRAINING)), old)
    store.release(old)  # a stale release changes nothing
    assert store.renew(new, LEASE_S) is False
    store.append_event("j1", _event(2, StateChanged(JobState.TRAINING)), new)


def test_a_running_quota_passes_over_an_owner_at_its_limit(store):
    _add(store, "a1")
    _add(store, "a2")
    _add(store, "b1", owner="bob")
    first = store.claim("replica-a", LEASE_S, 1)
    second = store.claim("replica-b", LEASE_S, 1)
    assert (first and first.job_id, second and second.job_id) == ("a1", "b1")
    assert store.claim("replica-a", LEASE_S, 1) is None
    assert first is not None
    store.append_event("a1", _event(2, StateChanged(JobState.SUCCEEDED)), first)
    store.release(first)
    later = store.claim("replica-a", LEASE_S, 1)
    assert later is not None and later.job_id == "a2"


def test_a_job_no_one_holds_is_cancelled_at_once_a_held_one_through_its_holder(store):
    _add(store, "waiting")
    _add(store, "held")
    _add(store, "done")
    assert store.cancel("waiting", StateChanged(JobState.CANCELLED, "cancelled"), T0) is True
    cancelled = store.job("waiting")
    assert cancelled is not None and cancelled.state is JobState.CANCELLED and cancelled.last_sequence == 2
    lease = store.claim("replica-a", LEASE_S, None)
    assert lease is not None and lease.job_id == "held" and not lease.cancel_requested
    assert store.cancel("held", StateChanged(JobState.CANCELLED, "cancelled"), T0) is False
    assert store.renew(lease, LEASE_S) is True
    held = store.job("held")
    assert held is not None and held.cancel_requested and held.state is JobState.QUEUED
    store.release(lease)
    taken_over = store.claim("replica-b", LEASE_S, None)
    assert taken_over is not None and taken_over.job_id == "held" and taken_over.cancel_requested
    finished = store.claim("replica-c", LEASE_S, None)
    assert finished is not None and finished.job_id == "done"
    store.append_event("done", _event(2, StateChanged(JobState.SUCCEEDED)), finished)
    assert store.cancel("done", StateChanged(JobState.CANCELLED, "late"), T0) is False
    assert [e.sequence for e in store.events("done")] == [1, 2]


def _collect(store: JobStore) -> tuple[list[Notice], threading.Event]:
    got: list[Notice] = []
    arrived = threading.Event()

    def on_notice(notice: Notice) -> None:
        got.append(notice)
        arrived.set()

    store.notices.subscribe(on_notice)
    return got, arrived


def _wait_for(got: list[Notice], expected: list[Notice], timeout: float = 5.0) -> None:
    """Wait until `got` holds every notice of `expected` (as many times as it is there)."""

    def arrived() -> bool:
        return all(got.count(notice) >= expected.count(notice) for notice in expected)

    deadline = time.monotonic() + timeout
    while not arrived() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert arrived(), got


def test_every_change_is_noticed(store):
    got, _ = _collect(store)
    _add(store, "j1")
    lease = store.claim("replica-a", LEASE_S, None)
    assert lease is not None
    store.append_event("j1", _step(2, 1), lease)
    store.cancel("j1", StateChanged(JobState.CANCELLED), T0)
    store.release(lease)
    _wait_for(
        got,
        [
            Notice(NoticeKind.EVENT, "j1", 1),
            Notice(NoticeKind.CLAIMABLE, "j1"),
            Notice(NoticeKind.EVENT, "j1", 2),
            Notice(NoticeKind.CANCEL, "j1"),
            Notice(NoticeKind.CLAIMABLE, "j1"),  # released
        ],
    )


# What only PostgreSQL does: several replicas share one database.


@pytest.mark.integration
def test_replicas_sharing_a_database_see_each_others_changes_and_never_claim_one_job_twice(postgres_url):
    replicas = [PostgresJobStore(postgres_url) for _ in range(3)]
    try:
        got, _ = _collect(replicas[2])
        for number in range(30):
            _add(replicas[number % 2], f"j{number}")
        claims: list[Lease] = []
        lock = threading.Lock()

        def claim_all(store: JobStore, holder: str) -> None:
            while (lease := store.claim(holder, LEASE_S, None)) is not None:
                with lock:
                    claims.append(lease)

        threads = [threading.Thread(target=claim_all, args=(s, f"r{i}")) for i, s in enumerate(replicas)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(lease.job_id for lease in claims) == sorted(f"j{n}" for n in range(30))
        _wait_for(got, [Notice(NoticeKind.EVENT, f"j{n}", 1) for n in range(30)])
    finally:
        for replica in replicas:
            replica.close()


@pytest.mark.integration
def test_a_database_migrated_further_than_this_version_is_refused(postgres_url):
    import psycopg

    from train_svc.jobs.postgres_schema import MIGRATIONS_TABLE, SCHEMA_VERSION
    from train_svc.jobs.store_contract import StoreError

    PostgresJobStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (99)".encode())
    with pytest.raises(StoreError, match=f"has schema 99; this version reads {SCHEMA_VERSION}"):
        PostgresJobStore(postgres_url)


def test_a_store_that_cannot_be_reached_is_a_clear_error_without_its_password(tmp_path):
    from train_svc.jobs.store_contract import StoreError

    url = f"postgresql://ltx:s3cret@/jobs?host={tmp_path}"  # no server listens on this socket folder
    with pytest.raises(StoreError, match=r"cannot use the job store postgresql://ltx:\*\*\*@/jobs") as refused:
        PostgresJobStore(url)
    assert "s3cret" not in str(refused.value)


def test_every_new_job_and_event_is_a_change_in_commit_order_and_old_changes_are_pruned(store, monkeypatch):
    import train_svc.jobs.postgres_store
    import train_svc.jobs.sqlite_store

    for module in (train_svc.jobs.sqlite_store, train_svc.jobs.postgres_store):
        monkeypatch.setattr(module, "CHANGES_KEPT", 5)
        monkeypatch.setattr(module, "PRUNE_EVERY", 5)
    assert store.change_bounds() == (0, 0)
    _add(store, "a1")
    _add(store, "b1", owner="bob")
    lease = store.claim("replica-a", LEASE_S, None)
    assert lease is not None and lease.job_id == "a1"
    store.append_event("a1", _step(2, 1), lease)
    assert store.cancel("b1", StateChanged(JobState.CANCELLED), T0)
    changes = store.changes(0, None, 10)
    assert [(c.job_id, c.owner, c.kind, c.sequence) for c in changes] == [
        ("a1", "alice", ChangeKind.ADDED, 1),
        ("b1", "bob", ChangeKind.ADDED, 1),
        ("a1", "alice", ChangeKind.MODIFIED, 2),
        ("b1", "bob", ChangeKind.MODIFIED, 2),
    ]
    positions = [c.position for c in changes]
    assert positions == sorted(positions) and store.change_bounds() == (positions[0] - 1, positions[-1])
    assert [(c.job_id, c.kind) for c in store.changes(positions[0], "bob", 10)] == [
        ("b1", ChangeKind.ADDED),
        ("b1", ChangeKind.MODIFIED),
    ]
    assert store.changes(positions[1], None, 1) == [changes[2]]
    for sequence in range(3, 11):  # changes 5..12: the writer of 10 prunes up to 5
        store.append_event("a1", _step(sequence, sequence - 1), lease)
    oldest, newest = store.change_bounds()
    assert newest == positions[-1] + 8 and oldest == newest - 7
    assert [c.position for c in store.changes(0, None, 100)][0] == oldest + 1


@pytest.mark.integration
def test_a_reader_following_changes_never_finds_an_older_one_committed_after(postgres_url):
    writers = [PostgresJobStore(postgres_url) for _ in range(3)]
    reader = PostgresJobStore(postgres_url)
    try:
        leases = []
        for number, store in enumerate(writers):
            _add(store, f"j{number}")
            lease = store.claim(f"r{number}", LEASE_S, None)
            assert lease is not None
            leases.append(lease)

        def write(store: JobStore, lease: Lease) -> None:
            for sequence in range(2, 80):
                store.append_event(lease.job_id, _step(sequence, sequence - 1), lease)

        threads = [threading.Thread(target=write, args=pair) for pair in zip(writers, leases, strict=True)]
        for thread in threads:
            thread.start()
        followed, after = [], 0
        while any(thread.is_alive() for thread in threads) or after < reader.change_bounds()[1]:
            batch = reader.changes(after, None, 50)
            followed += batch
            after = batch[-1].position if batch else after
        assert followed == reader.changes(0, None, 10_000), "following in steps read every change, in order"
        assert len(followed) == 3 * 79
    finally:
        for store in [*writers, reader]:
            store.close()


@pytest.mark.integration
def test_a_database_that_went_away_is_unavailable_not_a_crash():
    from shared.request.errors import ErrorCode
    from tests.postgres_server import PostgresServer
    from train_svc.jobs.store_contract import StoreUnavailable

    server = PostgresServer()
    store = PostgresJobStore(server.database())
    try:
        _add(store, "j1")
        server.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="cannot be reached") as lost:
            store.job("j1")
        assert lost.value.code is ErrorCode.UNAVAILABLE and lost.value.reason == "JOB_STORE_UNAVAILABLE"
        assert time.monotonic() - started < 15
    finally:
        store.close()
        server.stop()
