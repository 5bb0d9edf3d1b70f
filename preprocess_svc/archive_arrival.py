"""How a run's archive arrives in its dataset folder: the owner's upload, hard-linked (or copied across
filesystems), or fetched under the fetch policy; and where it came from, as the metrics label it."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from preprocess_svc.fetch import fetch_archive
from preprocess_svc.settings import PreprocessSettings
from preprocess_svc.uploads import resolve_upload_uri
from shared.fetch_policy import HttpSource, SourceProblem, parse_source
from shared.uploads_layout import is_upload_uri


def source_label(url: str) -> str:
    """Where an archive comes from, as the fetched-bytes metric labels it (http, local or upload)."""
    if is_upload_uri(url):
        return "upload"
    try:
        return "http" if isinstance(parse_source(url), HttpSource) else "local"
    except SourceProblem:
        return "local"


def bring_archive(
    settings: PreprocessSettings, storage_root: Path, archive: Path, cancel: threading.Event | None
) -> None:
    """Put the run's archive at `archive`: the owner's upload (hard-linked), or fetched under the policy."""
    if is_upload_uri(settings.training_data_url):
        upload = resolve_upload_uri(settings.training_data_url, storage_root, settings.owner)
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.unlink(missing_ok=True)
        try:
            os.link(upload, archive)
        except OSError:  # another filesystem, or one without hard links
            settings.space.check(archive.parent, upload.stat().st_size)
            shutil.copyfile(upload, archive)
        return
    fetch_archive(
        settings.training_data_url,
        archive,
        policy=settings.fetch.rooted_at(storage_root),
        max_bytes=settings.max_archive_bytes,
        cancel=cancel,
        space=settings.space,
    )
