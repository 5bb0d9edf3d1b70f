"""The shared job store: PostgreSQL, for any number of training replicas (`--job-store postgresql://...`).

Every replica reads and writes the same rows; the database's clock times the leases, so replicas need
not agree on theirs. Claims take `FOR UPDATE SKIP LOCKED` on the candidate rows (replicas claiming at once
never wait for each other's candidates), then a per-owner advisory lock while counting that owner's live
leases, so a running quota holds across replicas. Queue quotas count under a per-owner advisory lock too.

Notices: each change sends `pg_notify` in its transaction (delivered on commit); one listening connection
per store (a thread) publishes them to this process's subscribers, its own changes included. When that
connection has to be made again, subscribers get a RESYNC notice: they re-read what they follow.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import psycopg
import structlog
from psycopg_pool import ConnectionPool, PoolTimeout

from train_svc.jobs.event_codec import decode_event, encode_event
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged
from train_svc.jobs.postgres_access import reachable, redacted
from train_svc.jobs.postgres_hosting import ANNOUNCE, PRUNE_ANNOUNCEMENTS, WITHDRAW, claim_condition
from train_svc.jobs.postgres_schema import CHANGES_LOCK, migrate
from train_svc.jobs.store_contract import (
    CHANGES_KEPT,
    CLAIM_CANDIDATES,
    FINAL_STATES,
    JOB_COLUMNS,
    PRUNE_EVERY,
    UNFINISHED,
    Change,
    ChangeKind,
    Deletion,
    Hosting,
    Lease,
    NewJob,
    Notice,
    NoticeKind,
    Notices,
    QueueFull,
    StoredJob,
    StoreError,
    check_append,
    state_after,
)

log = structlog.get_logger(__name__)

CHANNEL = "ltx_training_jobs"
CONNECT_TIMEOUT_S = 10
POOL_SIZE = 8
LISTEN_RETRY_S = (0.2, 5.0)  # the listener's first and longest wait before connecting again


def _job(row: tuple) -> StoredJob:
    return StoredJob.of_row(row, row[6])


class PostgresJobStore:
    def __init__(self, url: str):
        self.url = url
        self.notices = Notices()
        self._closing = threading.Event()
        try:
            with self._connect(autocommit=True) as conn:
                migrate(conn, redacted(url))
            self._pool: ConnectionPool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_SIZE,
                kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
                open=True,
                timeout=CONNECT_TIMEOUT_S,
                name="ltx-job-store",
            )
            self._pool.wait(CONNECT_TIMEOUT_S)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"cannot use the job store {redacted(url)}: {exc}") from exc
        self._listener = threading.Thread(target=self._listen, name="job-store-listener", daemon=True)
        self._listening = threading.Event()
        self._listener.start()
        self._listening.wait(CONNECT_TIMEOUT_S)

    def _connect(self, autocommit: bool = False) -> psycopg.Connection:
        return psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=autocommit)

    def _listen(self) -> None:
        wait = LISTEN_RETRY_S[0]
        first = True
        while not self._closing.is_set():
            try:
                with self._connect(autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if not first:
                        self.notices.publish(Notice(NoticeKind.RESYNC, ""))
                    first, wait = False, LISTEN_RETRY_S[0]
                    while not self._closing.is_set():
                        for notify in conn.notifies(timeout=0.5):
                            self.notices.publish(Notice.decode(notify.payload))
            except psycopg.Error as exc:
                if self._closing.is_set():
                    return
                log.warning("job store listener lost its connection; connecting again", error=str(exc), wait_s=wait)
                self._closing.wait(wait)
                wait = min(wait * 2, LISTEN_RETRY_S[1])

    def _rows(self, query: str, params: tuple[Any, ...]) -> list[tuple]:
        with self._pool.connection() as conn:
            return conn.execute(query.encode(), params).fetchall()

    @staticmethod
    def _notify(conn: psycopg.Connection, notice: Notice) -> None:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notice.encode()))

    @reachable
    def add_job(self, job: NewJob, first: LoggedEvent, queued_limit: int | None) -> tuple[StoredJob, bool]:
        select = f"SELECT {JOB_COLUMNS} FROM training_jobs WHERE owner = %s AND request_id = %s".encode()
        with self._pool.connection() as conn, conn.transaction():
            if job.request_id and (row := conn.execute(select, (job.owner, job.request_id)).fetchone()):
                return _job(row), False
            if queued_limit is not None:
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('queue:' || %s, 0))", (job.owner,))
                row = conn.execute(
                    "SELECT count(*) FROM training_jobs WHERE owner = %s AND state = 'QUEUED'", (job.owner,)
                ).fetchone()
                if row and row[0] >= queued_limit:
                    raise QueueFull(row[0])
            state = state_after(first) or JobState.QUEUED
            inserted = conn.execute(
                "INSERT INTO training_jobs (id, owner, request_id, input_json, base_model, create_time, state, "
                "last_sequence, base_version) VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s) "
                "ON CONFLICT (owner, request_id) DO NOTHING RETURNING id",
                (
                    job.id,
                    job.owner,
                    job.request_id or None,
                    json.dumps(job.input_json, sort_keys=True),
                    job.base_model,
                    job.create_time,
                    state.value,
                    job.base_version,
                ),
            ).fetchone()
            if inserted is None:  # another replica stored the same request_id a moment ago
                row = conn.execute(select, (job.owner, job.request_id)).fetchone()
                assert row is not None
                return _job(row), False
            self._insert_event(conn, job.id, first)
            self._notify(conn, Notice(NoticeKind.CLAIMABLE, job.id))
            row = conn.execute(f"SELECT {JOB_COLUMNS} FROM training_jobs WHERE id = %s".encode(), (job.id,)).fetchone()
        assert row is not None
        return _job(row), True

    def _insert_event(self, conn: psycopg.Connection, job_id: str, logged: LoggedEvent) -> None:
        kind, payload = encode_event(logged.event)
        conn.execute(
            "INSERT INTO training_job_events VALUES (%s, %s, %s, %s, %s)",
            (job_id, logged.sequence, logged.time, kind, payload),
        )
        state = state_after(logged)
        conn.execute(
            "UPDATE training_jobs SET last_sequence = %s, state = coalesce(%s, state) WHERE id = %s",
            (logged.sequence, state.value if state else None, job_id),
        )
        change = ChangeKind.ADDED if logged.sequence == 1 else ChangeKind.MODIFIED
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK,))
        row = conn.execute(
            "INSERT INTO training_job_changes (job_id, owner, kind, sequence) SELECT id, owner, %s, %s "
            "FROM training_jobs WHERE id = %s RETURNING position",
            (change.value, logged.sequence, job_id),
        ).fetchone()
        if row and row[0] % PRUNE_EVERY == 0:
            conn.execute("DELETE FROM training_job_changes WHERE position <= %s", (row[0] - CHANGES_KEPT,))
        self._notify(conn, Notice(NoticeKind.EVENT, job_id, logged.sequence))

    @reachable
    def job(self, job_id: str) -> StoredJob | None:
        rows = self._rows(f"SELECT {JOB_COLUMNS} FROM training_jobs WHERE id = %s", (job_id,))
        return _job(rows[0]) if rows else None

    @reachable
    def find_request(self, owner: str, request_id: str) -> StoredJob | None:
        query = f"SELECT {JOB_COLUMNS} FROM training_jobs WHERE owner = %s AND request_id = %s"
        rows = self._rows(query, (owner, request_id))
        return _job(rows[0]) if rows else None

    @reachable
    def page(self, owner: str | None, before: int | None, limit: int) -> list[StoredJob]:
        rows = self._rows(
            f"SELECT {JOB_COLUMNS} FROM training_jobs WHERE (%s::text IS NULL OR owner = %s) "
            "AND (%s::bigint IS NULL OR number < %s) ORDER BY number DESC LIMIT %s",
            (owner, owner, before, before, limit),
        )
        return [_job(row) for row in rows]

    @reachable
    def state_counts(self) -> dict[JobState, int]:
        rows = self._rows("SELECT state, count(*) FROM training_jobs GROUP BY state", ())
        return {JobState(state): count for state, count in rows}

    @reachable
    def job_ids(self, owner: str) -> list[str]:
        return [id_ for (id_,) in self._rows("SELECT id FROM training_jobs WHERE owner = %s ORDER BY number", (owner,))]

    @reachable
    def events(self, job_id: str, after: int = 0, limit: int | None = None) -> list[LoggedEvent]:
        rows = self._rows(
            "SELECT sequence, time, kind, payload FROM training_job_events WHERE job_id = %s AND sequence > %s "
            "ORDER BY sequence LIMIT %s",
            (job_id, after, limit),
        )
        return [LoggedEvent(seq, at, decode_event(kind, payload)) for seq, at, kind, payload in rows]

    @reachable
    def append_event(self, job_id: str, logged: LoggedEvent, lease: Lease) -> None:
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT lease_token, lease_holder, last_sequence FROM training_jobs WHERE id = %s FOR UPDATE",
                (job_id,),
            ).fetchone()
            check_append(job_id, lease, logged.sequence, row)
            self._insert_event(conn, job_id, logged)

    @reachable
    def announce(self, holder: str, keys: tuple[str, ...], ttl_seconds: float) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(PRUNE_ANNOUNCEMENTS)
            conn.execute(ANNOUNCE, (holder, list(keys), ttl_seconds))

    @reachable
    def withdraw(self, holder: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(WITHDRAW, (holder,))

    @reachable
    def claim(
        self, holder: str, lease_seconds: float, running_limit: int | None, hosting: Hosting | None = None
    ) -> Lease | None:
        on_hosted_base, hosted = claim_condition(hosting)
        with self._pool.connection() as conn, conn.transaction():
            candidates = conn.execute(
                f"SELECT id, owner, cancel_requested FROM training_jobs WHERE {UNFINISHED} "
                f"AND (lease_expires IS NULL OR lease_expires < now()){on_hosted_base} "
                "ORDER BY state = 'QUEUED', number LIMIT %s FOR UPDATE SKIP LOCKED".encode(),
                (*hosted, CLAIM_CANDIDATES),
            ).fetchall()
            for job_id, owner, cancel in candidates:
                if running_limit is not None:
                    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('running:' || %s, 0))", (owner,))
                    row = conn.execute(
                        f"SELECT count(*) FROM training_jobs WHERE owner = %s AND lease_expires >= now() "
                        f"AND {UNFINISHED}".encode(),
                        (owner,),
                    ).fetchone()
                    if row and row[0] >= running_limit:
                        continue
                row = conn.execute(
                    "UPDATE training_jobs SET lease_holder = %s, lease_token = lease_token + 1, "
                    "lease_expires = now() + make_interval(secs => %s) WHERE id = %s RETURNING lease_token",
                    (holder, lease_seconds, job_id),
                ).fetchone()
                assert row is not None
                return Lease(job_id, holder, row[0], cancel)
        return None

    @reachable
    def renew(self, lease: Lease, lease_seconds: float) -> bool | None:
        rows = self._rows(
            "UPDATE training_jobs SET lease_expires = now() + make_interval(secs => %s) "
            "WHERE id = %s AND lease_token = %s AND lease_holder = %s RETURNING cancel_requested",
            (lease_seconds, lease.job_id, lease.token, lease.holder),
        )
        return rows[0][0] if rows else None

    @reachable
    def release(self, lease: Lease) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE training_jobs SET lease_holder = NULL, lease_expires = NULL WHERE id = %s AND lease_token = %s",
                (lease.job_id, lease.token),
            )
            self._notify(conn, Notice(NoticeKind.CLAIMABLE, lease.job_id))

    @reachable
    def changes(self, after: int, owner: str | None, limit: int) -> list[Change]:
        rows = self._rows(
            "SELECT position, job_id, owner, kind, sequence FROM training_job_changes WHERE position > %s "
            "AND (%s::text IS NULL OR owner = %s) ORDER BY position LIMIT %s",
            (after, owner, owner, limit),
        )
        return [Change(position, job_id, who, ChangeKind(kind), seq) for position, job_id, who, kind, seq in rows]

    @reachable
    def change_bounds(self) -> tuple[int, int]:
        rows = self._rows("SELECT min(position), max(position) FROM training_job_changes", ())
        oldest, newest = rows[0]
        return (0, 0) if newest is None else (oldest - 1, newest)  # none yet (pruning keeps the newest)

    @reachable
    def cancel(self, job_id: str, event: StateChanged, at: datetime) -> bool:
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT state, last_sequence, coalesce(lease_expires >= now(), false) FROM training_jobs "
                "WHERE id = %s FOR UPDATE",
                (job_id,),
            ).fetchone()
            if row is None or row[0] in FINAL_STATES:
                return False
            _, last, held = row
            if held:
                conn.execute("UPDATE training_jobs SET cancel_requested = true WHERE id = %s", (job_id,))
                self._notify(conn, Notice(NoticeKind.CANCEL, job_id))
                return False
            self._insert_event(conn, job_id, LoggedEvent(last + 1, at, event))
            return True

    @staticmethod
    def _ended_unheld(conn: psycopg.Connection, job_id: str) -> tuple[str, int] | Deletion:
        """(owner, last sequence) of an ended job no one holds (its row locked); else why not."""
        row = conn.execute(
            "SELECT owner, last_sequence, state, coalesce(lease_expires >= now(), false) FROM training_jobs "
            "WHERE id = %s FOR UPDATE",
            (job_id,),
        ).fetchone()
        if row is None:
            return Deletion.ABSENT
        owner, last, state, held = row
        return Deletion.UNFINISHED if state not in FINAL_STATES or held else (owner, last)

    @reachable
    def delete(self, job_id: str) -> Deletion:
        with self._pool.connection() as conn, conn.transaction():
            found = self._ended_unheld(conn, job_id)
            if isinstance(found, Deletion):
                return found
            owner, last = found
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK,))
            conn.execute(
                "INSERT INTO training_job_changes (job_id, owner, kind, sequence) VALUES (%s, %s, %s, %s)",
                (job_id, owner, ChangeKind.DELETED.value, last),
            )
            conn.execute("DELETE FROM training_job_events WHERE job_id = %s", (job_id,))
            conn.execute("DELETE FROM training_jobs WHERE id = %s", (job_id,))
            self._notify(conn, Notice(NoticeKind.DELETED, job_id, last))
        return Deletion.DELETED

    @reachable
    def append_to_ended(self, job_id: str, logged: LoggedEvent) -> bool:
        with self._pool.connection() as conn, conn.transaction():
            found = self._ended_unheld(conn, job_id)
            if isinstance(found, Deletion) or found[1] != logged.sequence - 1:
                return False
            self._insert_event(conn, job_id, logged)
        return True

    def close(self) -> None:
        self._closing.set()
        self._pool.close()
        self._listener.join(timeout=5)
