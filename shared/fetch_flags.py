"""The fetch-policy flags both services take: where an archive may be read from, and for how long.

A flag given on the command line replaces its environment variable; repeatable flags take one value each.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from shared.fetch_policy import FetchPolicy, parse_cidrs

DEFAULT_FETCH_DEADLINE_S = 1800.0


def add_fetch_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("fetching archives")
    group.add_argument(
        "--allow-local-root",
        action="append",
        type=Path,
        help="a folder whose files may be named as training_data_url, links resolved (repeatable; "
        "env LTX_ALLOW_LOCAL_ROOTS, os.pathsep-separated)",
    )
    group.add_argument(
        "--allow-fetch-cidr",
        action="append",
        help="an internal address range http(s) fetches may reach (repeatable; env LTX_ALLOW_FETCH_CIDRS, "
        "comma-separated)",
    )
    group.add_argument(
        "--fetch-deadline-seconds",
        type=float,
        default=float(os.environ.get("LTX_FETCH_DEADLINE_SECONDS", str(DEFAULT_FETCH_DEADLINE_S))),
        help="overall time limit of one archive download",
    )


def fetch_policy_from_args(a: argparse.Namespace, storage_root: Path) -> FetchPolicy:
    """Raises ValueError for a bad CIDR or a non-positive deadline."""
    env = os.environ.get
    roots = a.allow_local_root
    if roots is None:
        roots = [Path(d) for d in env("LTX_ALLOW_LOCAL_ROOTS", "").split(os.pathsep) if d]
    cidrs = a.allow_fetch_cidr
    if cidrs is None:
        cidrs = [c.strip() for c in env("LTX_ALLOW_FETCH_CIDRS", "").split(",") if c.strip()]
    if a.fetch_deadline_seconds <= 0:
        raise ValueError(f"--fetch-deadline-seconds must be positive (got {a.fetch_deadline_seconds})")
    return FetchPolicy(
        allow_local_roots=tuple(roots),
        allow_cidrs=parse_cidrs(cidrs),
        storage_root=storage_root,
        deadline_s=a.fetch_deadline_seconds,
    )
