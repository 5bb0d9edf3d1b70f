"""preprocess_svc's config tree: the service's own settings, and each component's settings nested under it.

Every flag, environment variable, default and range is declared once, on these classes and the
component classes they nest (shared.settings); `python -m preprocess_svc --help` and the README's
settings table are rendered from them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import Field

from preprocess_svc.settings import DEFAULT_MAX_ARCHIVE_BYTES
from shared.auth import AuthSettings
from shared.auth.settings import DEFAULT_INTERNAL_PRINCIPALS
from shared.disk_space import QuotaStorageBytes, SpaceGuard
from shared.fetch_policy import FetchPolicy
from shared.grpc_util.listen import ListenSettings
from shared.settings import Setting, SettingsModel, load_settings
from shared.tracing.settings import TracingSettings

SERVICE_ENV = "PREPROCESS_SVC"  # {service} in variable names: PREPROCESS_SVC_PORT, PREPROCESS_SVC_HOST
DESCRIPTION = "LTX-2.3 dataset preprocessing (gRPC)"


class PreprocessAuthSettings(AuthSettings):
    """The preprocessor's identity settings: Preprocess itself serves internal principals only, so here
    they are a setting too. Only the flags come from this class: the value is an AuthSettings."""

    internal_principals: Annotated[
        frozenset[str],
        Setting(
            "--internal-principals",
            "LTX_INTERNAL_PRINCIPALS",
            "principals allowed to call Preprocess (the training service)",
            split_flag=True,
        ),
    ] = DEFAULT_INTERNAL_PRINCIPALS


class PreprocessServiceConfig(SettingsModel):
    storage: Annotated[Path, Setting("--storage", "LTX_STORAGE", "storage root (uploads, datasets, cache)")]
    server: ListenSettings = ListenSettings(port=50051)
    workers: Annotated[
        int | None,
        Setting(
            "--workers",
            "PREPROCESS_WORKERS",
            "worker processes, started with the service, warm, shared by all runs (unset: one per core)",
        ),
    ] = Field(None, ge=1)
    grace_seconds: float = Field(10.0, gt=0)
    max_upload_bytes: Annotated[
        int,
        Setting("--max-upload-bytes", "PREPROCESS_MAX_UPLOAD_BYTES", "largest archive UploadArchive accepts"),
    ] = Field(DEFAULT_MAX_ARCHIVE_BYTES, ge=1)
    cache: Annotated[
        bool,
        Setting(
            "--cache",
            "PREPROCESS_CACHE",
            "keep finished runs under <storage>/cache/preprocess and reuse them for the same archive and settings",
        ),
    ] = True
    cache_max_bytes: Annotated[
        int,
        Setting(
            "--preprocess-cache-max-bytes",
            "LTX_PREPROCESS_CACHE_MAX_BYTES",
            "bound on the cache's bytes: least recently used entries go first, never one being replayed (0: none)",
        ),
    ] = Field(0, ge=0)
    auth: AuthSettings = PreprocessAuthSettings()
    fetch: FetchPolicy = FetchPolicy()  # where archives may be read from
    quota_storage_bytes: QuotaStorageBytes = None  # counts a principal's uploads
    space: SpaceGuard = SpaceGuard()
    tracing: TracingSettings = TracingSettings(service_name="ltx-preprocess-svc")

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def from_args(argv: Sequence[str] | None = None) -> PreprocessServiceConfig:
    return load_settings(
        PreprocessServiceConfig, argv, service=SERVICE_ENV, prog="python -m preprocess_svc", description=DESCRIPTION
    )
