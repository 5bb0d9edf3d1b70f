"""The job store: every job's request and full event log, in SQLite (WAL) under the storage root.

A job's state, progress, results and dataset report all follow from its events (train_svc.jobs.job),
so the store keeps only what cannot be derived: the request as sent, its request_id, the base model,
the creation time and number, and the events in sequence order. An event is committed before any
watcher sees it, so what a watcher has seen survives a crash of the service.

WAL with synchronous=NORMAL: a commit survives the process being killed (SIGKILL, OOM), and the file
is never corrupted; an operating-system crash or power loss may drop the last few commits.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from train_svc.jobs.event_codec import decode_event, encode_event
from train_svc.jobs.event_log import LoggedEvent

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    request_id TEXT UNIQUE,
    input_json TEXT NOT NULL,
    base_model TEXT NOT NULL,
    create_time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    sequence INTEGER NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (job_id, sequence)
) WITHOUT ROWID;
"""


class StoreError(Exception):
    """The store cannot be opened or is from a version this one cannot read."""


@dataclass(frozen=True)
class StoredJob:
    id: str
    number: int  # creation order, from 1
    request_id: str  # "" when the caller gave none
    input_json: dict[str, Any]
    base_model: str
    create_time: datetime


def store_path(storage_root: Path) -> Path:
    return storage_root / "train_svc" / "jobs.sqlite3"


class JobStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"cannot open the job store {path}: {exc}") from exc

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"the job store {self.path} has schema {row[0]}; this version reads {SCHEMA_VERSION}")

    def add_job(self, job: StoredJob) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.number,
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
                "SELECT id, number, request_id, input_json, base_model, create_time FROM jobs ORDER BY number"
            ).fetchall()
        return [
            StoredJob(
                id_, number, request_id or "", json.loads(input_json), base_model, datetime.fromisoformat(created)
            )
            for id_, number, request_id, input_json, base_model, created in rows
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
