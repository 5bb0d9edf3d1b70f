"""Which job store a service uses (`--job-store`), and how long its leases last (`--lease-seconds`).

Unset: the embedded SQLite file under the storage root (train_svc.jobs.sqlite_store), for one replica.
A `postgresql://` URL: a PostgreSQL database shared by any number of replicas
(train_svc.jobs.postgres_store). Either passes the same contract (train_svc.jobs.store_contract).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from shared.settings import Setting, SettingsModel
from train_svc.jobs.sqlite_store import SqliteJobStore, store_path
from train_svc.jobs.store_contract import JobStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreSettings(SettingsModel):
    url: Annotated[
        str,
        Setting(
            "--job-store",
            "LTX_JOB_STORE",
            "postgresql://user:password@host:port/db: jobs shared by replicas; unset: SQLite under the storage root",
        ),
    ] = ""
    lease_seconds: Annotated[
        float,
        Setting(
            "--lease-seconds",
            "LTX_LEASE_SECONDS",
            "a running job's lease: renewed every third of it; a replica gone this long loses its jobs to others",
        ),
    ] = Field(30.0, ge=1.0, le=3600.0)

    @field_validator("url")
    @classmethod
    def _postgres_or_nothing(cls, url: str) -> str:
        if url and not url.startswith(POSTGRES_SCHEMES):
            raise ValueError("must be a postgresql:// URL, or unset for the embedded SQLite store")
        return url

    @property
    def shared(self) -> bool:
        """Whether several replicas may use the store."""
        return bool(self.url)


def open_store(settings: StoreSettings, storage_root: Path) -> JobStore:
    """The configured store, migrated to this version's schema (StoreError when it cannot be used)."""
    if settings.url:
        from train_svc.jobs.postgres_store import PostgresJobStore  # psycopg only for a shared store

        return PostgresJobStore(settings.url)
    return SqliteJobStore(store_path(storage_root))
