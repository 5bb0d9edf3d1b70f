"""The storage flags both services take: the free space kept on the volume, and a principal's share of it."""

from __future__ import annotations

import argparse
import os


def optional_int(value: str | None) -> int | None:
    return int(value) if value else None


def add_storage_arguments(p: argparse.ArgumentParser, quota_help: str) -> None:
    env = os.environ.get
    group = p.add_argument_group("storage")
    group.add_argument(
        "--min-free-bytes",
        type=int,
        default=int(env("LTX_MIN_FREE_BYTES", "0")),
        help="keep this much free on the storage volume: a large write that would not fails STORAGE_FULL",
    )
    group.add_argument(
        "--quota-storage-bytes", type=int, default=optional_int(env("LTX_QUOTA_STORAGE_BYTES")), help=quota_help
    )


def storage_problem(a: argparse.Namespace) -> str | None:
    """What is wrong with the storage flags, if anything."""
    for flag, value in (("--min-free-bytes", a.min_free_bytes), ("--quota-storage-bytes", a.quota_storage_bytes)):
        if value is not None and value < 0:
            return f"{flag} must be >= 0 (got {value})"
    return None
