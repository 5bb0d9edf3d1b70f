"""The embedded job store: one SQLite file (WAL) under the storage root, for a service of one replica.

WAL with synchronous=NORMAL: a commit survives the process being killed (SIGKILL, OOM), and the file is
never corrupted; an operating-system crash or power loss may drop the last few commits.

The store has one owner: opening it takes an exclusive lock (flock) on `<file>.owner` beside it, held
until `close` or the owner's death, and a second opener, in this process or another, is refused with
StoreError. Two services on one storage would each resume and run the same jobs. Because its owner is
the only process that can hold leases, opening the store ends every lease a former owner left.

Migrations are numbered (train_svc.jobs.sqlite_schema) and run in order on open, under the owner lock.
Lease times are this process's clock (time.time()): there is no other process to agree with.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from train_svc.jobs.event_codec import decode_event, encode_event
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged
from train_svc.jobs.sqlite_schema import MIGRATIONS, SCHEMA_VERSION, schema_version
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


def store_path(storage_root: Path) -> Path:
    return storage_root / "train_svc" / "jobs.sqlite3"


def _own(path: Path) -> int:
    """An open descriptor holding the exclusive lock on the store `path`'s owner file; StoreError if taken."""
    owner = path.with_name(path.name + ".owner")
    descriptor = os.open(owner, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise StoreError(
            f"the job store {path} is in use by another training service (it holds the lock on {owner}): "
            "one service per storage root"
        ) from None
    except OSError as exc:
        os.close(descriptor)
        raise StoreError(f"cannot lock the job store {path} ({owner}: {exc}); the volume needs file locks") from exc
    return descriptor


def _job(row: tuple) -> StoredJob:
    return StoredJob.of_row(row, datetime.fromisoformat(row[6]))


class SqliteJobStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.notices = Notices()
        self._lock = threading.Lock()
        self._owner = _own(path)
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            os.close(self._owner)
            raise StoreError(f"cannot open the job store {path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("UPDATE jobs SET lease_holder = NULL, lease_expires = NULL")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"cannot open the job store {path}: {exc}") from exc
        except StoreError:
            self.close()
            raise

    def _migrate(self) -> None:
        """Run the migrations after the store's schema, each in its own transaction (foreign keys off while
        tables are rebuilt)."""
        version = schema_version(self._db)
        if version > SCHEMA_VERSION:
            raise StoreError(f"the job store {self.path} has schema {version}; this version reads {SCHEMA_VERSION}")
        for number, script in MIGRATIONS[version:]:
            record = f"UPDATE meta SET value = '{number}' WHERE key = 'schema_version';"
            self._db.executescript(f"BEGIN;{script}\n{record}COMMIT;")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_job(self, job: NewJob, first: LoggedEvent, queued_limit: int | None) -> tuple[StoredJob, bool]:
        with self._write() as db:
            if job.request_id:
                row = db.execute(
                    f"SELECT {JOB_COLUMNS} FROM jobs WHERE owner = ? AND request_id = ?", (job.owner, job.request_id)
                ).fetchone()
                if row is not None:
                    return _job(row), False
            if queued_limit is not None:
                (queued,) = db.execute(
                    "SELECT count(*) FROM jobs WHERE owner = ? AND state = 'QUEUED'", (job.owner,)
                ).fetchone()
                if queued >= queued_limit:
                    raise QueueFull(queued)
            (number,) = db.execute("SELECT coalesce(max(number), 0) + 1 FROM jobs").fetchone()
            state = state_after(first) or JobState.QUEUED
            db.execute(
                "INSERT INTO jobs (id, number, owner, request_id, input_json, base_model, create_time, state, "
                "last_sequence, base_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    job.id,
                    number,
                    job.owner,
                    job.request_id or None,
                    json.dumps(job.input_json, sort_keys=True),
                    job.base_model,
                    job.create_time.isoformat(),
                    state.value,
                    job.base_version,
                ),
            )
            self._insert_event(db, job.id, first)
            row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job.id,)).fetchone()
        self.notices.publish(Notice(NoticeKind.EVENT, job.id, first.sequence))
        self.notices.publish(Notice(NoticeKind.CLAIMABLE, job.id))
        return _job(row), True

    @staticmethod
    def _insert_event(db: sqlite3.Connection, job_id: str, logged: LoggedEvent) -> None:
        kind, payload = encode_event(logged.event)
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (job_id, logged.sequence, logged.time.isoformat(), kind, payload),
        )
        state = state_after(logged)
        db.execute(
            "UPDATE jobs SET last_sequence = ?, state = coalesce(?, state) WHERE id = ?",
            (logged.sequence, state.value if state else None, job_id),
        )
        change = ChangeKind.ADDED if logged.sequence == 1 else ChangeKind.MODIFIED
        (position,) = db.execute(
            "INSERT INTO changes (job_id, owner, kind, sequence) SELECT id, owner, ?, ? FROM jobs WHERE id = ? "
            "RETURNING position",
            (change.value, logged.sequence, job_id),
        ).fetchone()
        if position % PRUNE_EVERY == 0:
            db.execute("DELETE FROM changes WHERE position <= ?", (position - CHANGES_KEPT,))

    def job(self, job_id: str) -> StoredJob | None:
        with self._lock:
            row = self._db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def find_request(self, owner: str, request_id: str) -> StoredJob | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE owner = ? AND request_id = ?", (owner, request_id)
            ).fetchone()
        return None if row is None else _job(row)

    def page(self, owner: str | None, before: int | None, limit: int) -> list[StoredJob]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE (? IS NULL OR owner = ?) AND (? IS NULL OR number < ?) "
                "ORDER BY number DESC LIMIT ?",
                (owner, owner, before, before, limit),
            ).fetchall()
        return [_job(row) for row in rows]

    def state_counts(self) -> dict[JobState, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        return {JobState(state): count for state, count in rows}

    def job_ids(self, owner: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE owner = ? ORDER BY number", (owner,)).fetchall()
        return [id_ for (id_,) in rows]

    def events(self, job_id: str, after: int = 0, limit: int | None = None) -> list[LoggedEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sequence, time, kind, payload FROM events WHERE job_id = ? AND sequence > ? "
                "ORDER BY sequence LIMIT ?",
                (job_id, after, -1 if limit is None else limit),
            ).fetchall()
        return [
            LoggedEvent(seq, datetime.fromisoformat(time_), decode_event(kind, payload))
            for seq, time_, kind, payload in rows
        ]

    def append_event(self, job_id: str, logged: LoggedEvent, lease: Lease) -> None:
        with self._write() as db:
            row = db.execute(
                "SELECT lease_token, lease_holder, last_sequence FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            check_append(job_id, lease, logged.sequence, row)
            self._insert_event(db, job_id, logged)
        self.notices.publish(Notice(NoticeKind.EVENT, job_id, logged.sequence))

    def announce(self, holder: str, keys: tuple[str, ...], ttl_seconds: float) -> None:
        """Nothing to tell: the store's one replica (its owner) is every replica there is."""

    def withdraw(self, holder: str) -> None:
        """Nothing to end: see `announce`."""

    def claim(
        self, holder: str, lease_seconds: float, running_limit: int | None, hosting: Hosting | None = None
    ) -> Lease | None:
        """As the contract says; `hosting` admits every job here, since no other replica could host a job's
        base: a job on a base this one does not host is claimed to be failed (BASE_MODEL_NOT_HOSTED)."""
        now = time.time()
        with self._write() as db:
            candidates = db.execute(
                f"SELECT id, owner, cancel_requested FROM jobs WHERE {UNFINISHED} "
                "AND (lease_expires IS NULL OR lease_expires < ?) ORDER BY state = 'QUEUED', number LIMIT ?",
                (now, CLAIM_CANDIDATES),
            ).fetchall()
            for job_id, owner, cancel in candidates:
                if running_limit is not None:
                    (running,) = db.execute(
                        f"SELECT count(*) FROM jobs WHERE owner = ? AND lease_expires >= ? AND {UNFINISHED}",
                        (owner, now),
                    ).fetchone()
                    if running >= running_limit:
                        continue
                (token,) = db.execute(
                    "UPDATE jobs SET lease_holder = ?, lease_token = lease_token + 1, lease_expires = ? "
                    "WHERE id = ? RETURNING lease_token",
                    (holder, now + lease_seconds, job_id),
                ).fetchone()
                return Lease(job_id, holder, token, bool(cancel))
        return None

    def renew(self, lease: Lease, lease_seconds: float) -> bool | None:
        with self._write() as db:
            row = db.execute(
                "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_token = ? AND lease_holder = ? "
                "RETURNING cancel_requested",
                (time.time() + lease_seconds, lease.job_id, lease.token, lease.holder),
            ).fetchone()
        return None if row is None else bool(row[0])

    def release(self, lease: Lease) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET lease_holder = NULL, lease_expires = NULL WHERE id = ? AND lease_token = ?",
                (lease.job_id, lease.token),
            )
        self.notices.publish(Notice(NoticeKind.CLAIMABLE, lease.job_id))

    def changes(self, after: int, owner: str | None, limit: int) -> list[Change]:
        with self._lock:
            rows = self._db.execute(
                "SELECT position, job_id, owner, kind, sequence FROM changes WHERE position > ? "
                "AND (? IS NULL OR owner = ?) ORDER BY position LIMIT ?",
                (after, owner, owner, limit),
            ).fetchall()
        return [Change(position, job_id, who, ChangeKind(kind), seq) for position, job_id, who, kind, seq in rows]

    def change_bounds(self) -> tuple[int, int]:
        with self._lock:
            oldest, newest = self._db.execute("SELECT min(position), max(position) FROM changes").fetchone()
        return (0, 0) if newest is None else (oldest - 1, newest)  # none yet (pruning keeps the newest)

    def cancel(self, job_id: str, event: StateChanged, at: datetime) -> bool:
        with self._write() as db:
            row = db.execute("SELECT state, last_sequence, lease_expires FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] in FINAL_STATES:
                return False
            state, last, expires = row
            if expires is not None and expires >= time.time():
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
                notice = Notice(NoticeKind.CANCEL, job_id)
            else:
                self._insert_event(db, job_id, LoggedEvent(last + 1, at, event))
                notice = Notice(NoticeKind.EVENT, job_id, last + 1)
        self.notices.publish(notice)
        return notice.kind is NoticeKind.EVENT

    @staticmethod
    def _ended_unheld(db: sqlite3.Connection, job_id: str) -> tuple[str, int] | Deletion:
        """(owner, last sequence) of an ended job no one holds; else why not (ABSENT or UNFINISHED)."""
        row = db.execute(
            "SELECT owner, last_sequence, state, lease_expires FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            return Deletion.ABSENT
        owner, last, state, expires = row
        if state not in FINAL_STATES or (expires is not None and expires >= time.time()):
            return Deletion.UNFINISHED
        return owner, last

    def delete(self, job_id: str) -> Deletion:
        with self._write() as db:
            found = self._ended_unheld(db, job_id)
            if isinstance(found, Deletion):
                return found
            owner, last = found
            db.execute(
                "INSERT INTO changes (job_id, owner, kind, sequence) VALUES (?, ?, ?, ?)",
                (job_id, owner, ChangeKind.DELETED.value, last),
            )
            db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self.notices.publish(Notice(NoticeKind.DELETED, job_id, last))
        return Deletion.DELETED

    def append_to_ended(self, job_id: str, logged: LoggedEvent) -> bool:
        with self._write() as db:
            found = self._ended_unheld(db, job_id)
            if isinstance(found, Deletion) or found[1] != logged.sequence - 1:
                return False
            self._insert_event(db, job_id, logged)
        self.notices.publish(Notice(NoticeKind.EVENT, job_id, logged.sequence))
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._owner >= 0:
                os.close(self._owner)  # releases the lock
                self._owner = -1
