"""The embedded store's schema, as numbered migrations: a new store runs them all, an older one the rest.

1: jobs and their events. 2: jobs gain an owner (the principal `local` for jobs made before, the one
principal of a service without authentication), and request_id becomes unique per owner; SQLite cannot
change a table's constraints, so the table is rebuilt (new table, copy, drop, rename). 3: each job keeps
its state and last sequence number (filled in from its events), its lease and whether a cancel was asked.
4: changes, for collection watches (none are made up for what happened before: a watch starts after it).
5: each job records its base's LTX version; the jobs stored before all trained on LTX-2.3.
"""

from __future__ import annotations

import sqlite3

from shared.auth import LOCAL

_JOBS_V2 = """
CREATE TABLE jobs_v2 (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    request_id TEXT,
    input_json TEXT NOT NULL,
    base_model TEXT NOT NULL,
    create_time TEXT NOT NULL,
    UNIQUE (owner, request_id)
);"""

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '0');
CREATE TABLE jobs (id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, request_id TEXT UNIQUE,
    input_json TEXT NOT NULL, base_model TEXT NOT NULL, create_time TEXT NOT NULL);
CREATE TABLE events (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    sequence INTEGER NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (job_id, sequence)
) WITHOUT ROWID;""",
    ),
    (
        2,
        f"""{_JOBS_V2}
INSERT INTO jobs_v2 (id, number, owner, request_id, input_json, base_model, create_time)
    SELECT id, number, '{LOCAL}', request_id, input_json, base_model, create_time FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v2 RENAME TO jobs;""",
    ),
    (
        3,
        """
ALTER TABLE jobs ADD COLUMN state TEXT NOT NULL DEFAULT 'QUEUED';
ALTER TABLE jobs ADD COLUMN last_sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_holder TEXT;
ALTER TABLE jobs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_expires REAL;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET last_sequence = (SELECT coalesce(max(sequence), 0) FROM events WHERE job_id = jobs.id);
UPDATE jobs SET state = coalesce((SELECT json_extract(payload, '$.state') FROM events
    WHERE job_id = jobs.id AND kind = 'StateChanged' ORDER BY sequence DESC LIMIT 1), 'QUEUED');
CREATE INDEX jobs_by_owner ON jobs (owner, number);
CREATE INDEX jobs_by_state ON jobs (state, number);""",
    ),
    (
        4,
        """
CREATE TABLE changes (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    sequence INTEGER NOT NULL
);
CREATE INDEX changes_by_owner ON changes (owner, position);""",
    ),
    (5, "ALTER TABLE jobs ADD COLUMN base_version TEXT NOT NULL DEFAULT '2.3';"),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(db: sqlite3.Connection) -> int:
    """The schema of the store open on `db`: 0 for a new (empty) file."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return 0 if row is None else int(row[0])
