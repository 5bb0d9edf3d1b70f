"""Getting the dataset archive onto local disk, under the service's FetchPolicy (shared.fetch_policy).

fetch_archive takes an http(s) URL, an absolute path or a file:/// URL and writes the archive to dest
through `.<name>.part` beside it, renamed into place when complete; no failure or cancellation leaves
the part file behind.

- Local files are read only from the policy's allowed folders and never from its storage root, judged
  on the path as given and again on the opened file itself (local_fetch).
- http(s) goes through httpx on a network layer that resolves each host once, refuses it if any of its
  addresses is blocked, connects to the checked addresses only, and does so for every redirect hop
  (http_download, guarded_network).
- The whole fetch has an overall deadline (policy.deadline_s); each connection attempt and each read
  has its own timeout too. A set `cancel` event stops the fetch within a fraction of a second.
- The size cap applies to Content-Length up front and to the bytes as they arrive; the storage guard is
  asked before the first byte and every 16 MiB.

upload:// ids are not fetched: the service reads its stored uploads itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from preprocess_svc.errors import ArchiveError, ArchiveReason, FetchCancelled
from preprocess_svc.fetch_clock import DeadlineExceeded, FetchClock
from preprocess_svc.http_download import download_archive
from preprocess_svc.local_fetch import copy_local_archive
from shared.disk_space import NO_RESERVE, SpaceGuard
from shared.fetch_policy import FetchPolicy, HttpSource, LocalSource, SourceProblem, parse_source
from shared.quoting import clip, quote

log = structlog.get_logger(__name__)


def fetch_archive(
    url: str,
    dest: Path,
    *,
    policy: FetchPolicy,
    max_bytes: int,
    cancel: threading.Event | None = None,
    space: SpaceGuard = NO_RESERVE,
) -> Path:
    """Put the archive at `url` into the file `dest` and return dest.

    Raises ArchiveError (FETCH_BLOCKED, NOT_FOUND, FETCH_FAILED, ARCHIVE_TOO_LARGE), FetchCancelled when
    `cancel` is set, and StorageFull when the space guard refuses.
    """
    clock = FetchClock(policy.deadline_s, cancel)
    try:
        source = parse_source(url)
    except SourceProblem as exc:
        raise ArchiveError(ArchiveReason.FETCH_BLOCKED, str(exc), {"url": clip(url)}) from None
    try:
        if isinstance(source, HttpSource):
            download_archive(source, dest, policy=policy, clock=clock, max_bytes=max_bytes, space=space)
        elif isinstance(source, LocalSource):
            copy_local_archive(source.path, dest, policy=policy, clock=clock, max_bytes=max_bytes, space=space)
        else:
            raise ArchiveError(
                ArchiveReason.FETCH_BLOCKED,
                f"{quote(url)} names a stored upload: the service reads uploads itself, they are not fetched",
                {"url": clip(url)},
            )
    except DeadlineExceeded:
        raise ArchiveError(
            ArchiveReason.FETCH_FAILED,
            f"fetching the archive {quote(url)} did not finish within the deadline of {policy.deadline_s:g} s",
            {"url": clip(url)},
        ) from None
    except FetchCancelled:
        log.info("archive_fetch_cancelled", url=clip(url))
        raise
    log.info("archive_fetched", url=clip(url), path=str(dest), size_bytes=dest.stat().st_size)
    return dest
