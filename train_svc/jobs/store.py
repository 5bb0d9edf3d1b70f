"""The job store: every job's request and full event log, in SQLite (WAL) under the storage root.

A job's state, progress, results and dataset report all follow from its events (train_svc.jobs.job),
so the store keeps only what cannot be derived: the principal that owns the job, the request as sent,
its request_id (unique per owner), the base model, the creation time and number, and the events in
sequence order. A store of schema 1 (before jobs had owners) is upgraded in place on open: its jobs
belong to the principal `local`, the one principal of a service without authentication. An event is committed before any
watcher sees it, so what a watcher has seen survives a crash of the service.

WAL with synchronous=NORMAL: a commit survives the process being killed (SIGKILL, OOM), and the file
is never corrupted; an operating-system crash or power loss may drop the last few commits.

The store has one owner: opening it takes an exclusive lock (flock) on `<file>.owner` beside it, held
until `close` or the owner's death, and a second opener, in this process or another, is refused with
StoreError. Two services on one storage would each resume and run the same jobs.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.auth import LOCAL
from train_svc.jobs.event_codec import decode_event, encode_event
from train_svc.jobs.event_log import LoggedEvent

SCHEMA_VERSION = 2
_JOBS_TABLE = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    request_id TEXT,
    input_json TEXT NOT NULL,
    base_model TEXT NOT NULL,
    create_time TEXT NOT NULL,
    UNIQUE (owner, request_id)
);"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{_JOBS_TABLE}
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    sequence INTEGER NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (job_id, sequence)
) WITHOUT ROWID;
"""


# Schema 1 -> 2: jobs gain an owner; request_id becomes unique per owner. SQLite cannot change a
# table's constraints, so the table is rebuilt (SQLite's documented way: new table, copy, drop, rename).
_UPGRADE_1_TO_2 = f"""
{_JOBS_TABLE.replace("IF NOT EXISTS jobs", "jobs_v2")}
INSERT INTO jobs_v2 (id, number, owner, request_id, input_json, base_model, create_time)
    SELECT id, number, '{LOCAL}', request_id, input_json, base_model, create_time FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v2 RENAME TO jobs;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"""


class StoreError(Exception):
    """The store cannot be opened or is from a version this one cannot read."""


@dataclass(frozen=True)
class StoredJob:
    id: str
    number: int  # creation order, from 1
    owner: str  # the principal that created it
    request_id: str  # "" when the caller gave none
    input_json: dict[str, Any]
    base_model: str
    create_time: datetime


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


class JobStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
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
            self._upgrade()
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"cannot open the job store {path}: {exc}") from exc
        except StoreError:
            self.close()
            raise

    def _upgrade(self) -> None:
        """Bring a store of an earlier schema up to this one (foreign keys off while tables are rebuilt)."""
        has_meta = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if has_meta else None
        if row is not None and row[0] == "1":
            self._db.executescript(f"BEGIN;{_UPGRADE_1_TO_2}COMMIT;")

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"the job store {self.path} has schema {row[0]}; this version reads {SCHEMA_VERSION}")

    def add_job(self, job: StoredJob) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, number, owner, request_id, input_json, base_model, create_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.number,
                    job.owner,
                    job.request_id or None,
                    json.dumps(job.input_json, sort_keys=True),
                    job.base_model,
                    job.create_time.isoformat(),
                ),
            )

    def append_event(self, job_id: str, logged: LoggedEvent) -> None:
        kind, payload = encode_event(logged.event)
        with self._lock:
            self._db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                (job_id, logged.sequence, logged.time.isoformat(), kind, payload),
            )

    def jobs(self) -> list[StoredJob]:
        """Every job, in creation order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, number, owner, request_id, input_json, base_model, create_time FROM jobs ORDER BY number"
            ).fetchall()
        return [
            StoredJob(
                id_,
                number,
                owner,
                request_id or "",
                json.loads(input_json),
                base_model,
                datetime.fromisoformat(created),
            )
            for id_, number, owner, request_id, input_json, base_model, created in rows
        ]

    def events(self, job_id: str) -> list[LoggedEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sequence, time, kind, payload FROM events WHERE job_id = ? ORDER BY sequence", (job_id,)
            ).fetchall()
        return [
            LoggedEvent(seq, datetime.fromisoformat(time), decode_event(kind, payload))
            for seq, time, kind, payload in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._owner >= 0:
                os.close(self._owner)  # releases the lock
                self._owner = -1
