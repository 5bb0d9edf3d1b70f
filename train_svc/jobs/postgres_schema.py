"""The PostgreSQL store's schema, as numbered migrations. The service applies the ones a database lacks at
start, each in its own transaction, under an advisory lock, so replicas starting together migrate once.
A database migrated further than this version knows is refused.

1: jobs and their events. 2: changes, for collection watches. 3: each job records its base's LTX version;
the jobs stored before all trained on LTX-2.3 (new rows always name theirs, so the column keeps no default).
4: the bases each live replica hosts (train_svc.jobs.postgres_hosting).
"""

from __future__ import annotations

import psycopg
import structlog

from train_svc.jobs.store_contract import StoreError

log = structlog.get_logger(__name__)

MIGRATIONS_TABLE = "ltx_schema_migrations"
MIGRATION_LOCK = 7_134_202_315  # the advisory lock key replicas take while migrating
# Held by every transaction that records a change, until it commits: changes commit in position order, so a
# watch that has read up to a position never finds a smaller one committed after.
CHANGES_LOCK = 7_134_202_316

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
CREATE TABLE training_jobs (
    id text PRIMARY KEY,
    number bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    owner text NOT NULL,
    request_id text,
    input_json text NOT NULL,
    base_model text NOT NULL,
    create_time timestamptz NOT NULL,
    state text NOT NULL,
    last_sequence integer NOT NULL,
    lease_holder text,
    lease_token bigint NOT NULL DEFAULT 0,
    lease_expires timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    UNIQUE (owner, request_id)
);
CREATE INDEX training_jobs_by_owner ON training_jobs (owner, number);
CREATE INDEX training_jobs_unfinished ON training_jobs (number)
    WHERE state NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
CREATE TABLE training_job_events (
    job_id text NOT NULL REFERENCES training_jobs (id),
    sequence integer NOT NULL,
    time timestamptz NOT NULL,
    kind text NOT NULL,
    payload text NOT NULL,
    PRIMARY KEY (job_id, sequence)
);""",
    ),
    (
        2,
        """
CREATE TABLE training_job_changes (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id text NOT NULL,
    owner text NOT NULL,
    kind text NOT NULL,
    sequence integer NOT NULL
);
CREATE INDEX training_job_changes_by_owner ON training_job_changes (owner, position);""",
    ),
    (
        3,
        """
ALTER TABLE training_jobs ADD COLUMN base_version text NOT NULL DEFAULT '2.3';
ALTER TABLE training_jobs ALTER COLUMN base_version DROP DEFAULT;""",
    ),
    (
        4,
        """
CREATE TABLE training_replicas (
    replica text PRIMARY KEY,
    hosted text[] NOT NULL,
    expires timestamptz NOT NULL
);""",
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(conn: psycopg.Connection, shown_url: str) -> None:
    """Apply the migrations the database on `conn` (autocommit) lacks, each in its own transaction, under
    the migration lock; StoreError if it is migrated further than this version knows."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
            "(version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {MIGRATIONS_TABLE}").fetchone()
        version = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(f"the job store {shown_url} has schema {version}; this version reads {SCHEMA_VERSION}")
        for number, script in MIGRATIONS:
            if number > version:
                with conn.transaction():
                    conn.execute(script.encode())
                    conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (%s)", (number,))
                log.info("job store migrated", version=number)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
