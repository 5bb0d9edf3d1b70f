"""preprocess_svc settings: flags with environment-variable defaults, one typed object."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from preprocess_svc.settings import GIB
from shared.auth import AuthSettings
from shared.auth.settings import add_auth_arguments, add_internal_principals_argument, auth_settings_from_args
from shared.fetch_flags import add_fetch_arguments, fetch_policy_from_args
from shared.fetch_policy import FetchPolicy
from shared.ready_file import add_ready_file_argument
from shared.storage_flags import add_storage_arguments, storage_problem

DEFAULT_MAX_UPLOAD_BYTES = 20 * GIB  # the same as PreprocessSettings.max_archive_bytes


@dataclass(frozen=True)
class PreprocessServiceConfig:
    storage: Path
    port: int = 50051
    host: str = "127.0.0.1"
    workers: int = os.cpu_count() or 1  # worker processes, started with the service and shared by all runs
    grace_seconds: float = 10.0
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # largest archive UploadArchive accepts
    cache: bool = True  # reuse the bundles of an earlier run with the same archive and settings
    auth: AuthSettings = AuthSettings()  # who may call; Preprocess itself serves internal principals only
    fetch: FetchPolicy = FetchPolicy()  # where archives may be read from
    quota_storage_bytes: int | None = None  # per principal: bytes of its uploads; None = unlimited
    min_free_bytes: int = 0  # a large write that would leave less free on the volume fails STORAGE_FULL
    ready_file: Path | None = None  # once serving, the bound ports are written here (shared.ready_file)


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m preprocess_svc", description="LTX-2.3 dataset preprocessing (gRPC)")
    p.add_argument("--port", type=int, default=int(env("PREPROCESS_SVC_PORT", "50051")))
    p.add_argument("--host", default=env("PREPROCESS_SVC_HOST", "127.0.0.1"), help="address to listen on")
    add_ready_file_argument(p)
    p.add_argument("--storage", type=Path, default=env("LTX_STORAGE"), required=not env("LTX_STORAGE"))
    p.add_argument("--workers", type=int, default=int(env("PREPROCESS_WORKERS", str(os.cpu_count() or 1))))
    p.add_argument(
        "--max-upload-bytes",
        type=int,
        default=int(env("PREPROCESS_MAX_UPLOAD_BYTES", str(DEFAULT_MAX_UPLOAD_BYTES))),
        help="largest archive UploadArchive accepts",
    )
    p.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=env("PREPROCESS_CACHE", "1").strip().lower() not in ("0", "false", "no", "off"),
        help="keep finished runs under <storage>/cache/preprocess and reuse them for the same archive and "
        "settings (no eviction)",
    )
    add_auth_arguments(p)
    add_internal_principals_argument(p)
    add_fetch_arguments(p)
    add_storage_arguments(p, "per principal: most bytes of uploads it may keep here (unlimited by default)")
    return p


def from_args(argv: list[str] | None = None) -> PreprocessServiceConfig:
    p = parser()
    a = p.parse_args(argv)
    if problem := storage_problem(a):
        p.error(problem)
    try:
        fetch = fetch_policy_from_args(a, Path(a.storage))
    except ValueError as exc:
        p.error(str(exc))
    return PreprocessServiceConfig(
        storage=Path(a.storage),
        port=a.port,
        host=a.host,
        workers=a.workers,
        max_upload_bytes=a.max_upload_bytes,
        cache=a.cache,
        auth=auth_settings_from_args(a),
        fetch=fetch,
        quota_storage_bytes=a.quota_storage_bytes,
        min_free_bytes=a.min_free_bytes,
        ready_file=a.ready_file,
    )
