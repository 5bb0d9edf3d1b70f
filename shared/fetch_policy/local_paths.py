"""Whether a local file may be read as a training archive, judged on its real path (symlinks resolved)."""

from __future__ import annotations

import os
from pathlib import Path

from shared.fetch_policy.policy import FetchPolicy
from shared.quoting import quote


def local_path_problem(path: Path, real_path: Path, policy: FetchPolicy) -> str | None:
    """A sentence saying why the file `path` (real path `real_path`) may not be read, or None when it may."""
    reason = _refusal(real_path, policy)
    if reason is None:
        return None
    shown = quote(str(path)) if real_path == path else f"{quote(str(path))} (real path {quote(str(real_path))})"
    return f"local archive {shown} may not be read: {reason}"


def _refusal(real_path: Path, policy: FetchPolicy) -> str | None:
    if policy.storage_root is not None:
        storage = _real(policy.storage_root)
        if real_path.is_relative_to(storage):
            return f"it lies in the service's storage ({storage}); send an uploaded archive as upload://<id>"
    roots = [_real(root) for root in policy.allow_local_roots]
    if any(real_path.is_relative_to(root) for root in roots):
        return None
    if not roots:
        return "this service reads no local files (no local roots are allowed); use an http(s) URL or upload it"
    return f"it lies outside the folders local archives may come from ({', '.join(map(str, roots))})"


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))
