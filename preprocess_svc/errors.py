"""Domain errors of preprocessing, each with a stable machine-readable reason and a message for people.

DatasetError and ArchiveError end a whole run; they are DomainErrors (a status code, a reason, details),
which the services' one error interceptor maps to gRPC statuses with ErrorInfo.reason = .reason.
UnusableMediaError concerns one file only: the pipeline turns it into a SkippedFile event and carries
on. FetchCancelled is no fault of the archive: the caller stopped the fetch.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from shared.request.errors import DomainError, ErrorCode


class DatasetReason(StrEnum):
    MIXED_MEDIA = "MIXED_MEDIA"
    ALL_CLIPS_TOO_SHORT = "ALL_CLIPS_TOO_SHORT"
    NO_MEDIA = "NO_MEDIA"
    NO_USABLE_MEDIA = "NO_USABLE_MEDIA"


class ArchiveReason(StrEnum):
    # Every entry was refused (unsafe, over-long, duplicate or undecodable names...): nothing to use.
    NO_USABLE_ENTRY = "NO_USABLE_ENTRY"
    ARCHIVE_TOO_LARGE = "ARCHIVE_TOO_LARGE"
    NOT_A_ZIP = "NOT_A_ZIP"
    FETCH_FAILED = "FETCH_FAILED"
    # The URL (or a redirect) leads to an address or a local path the service may not read.
    FETCH_BLOCKED = "FETCH_BLOCKED"
    NOT_FOUND = "NOT_FOUND"


class SkipReason(StrEnum):
    UNDECODABLE = "UNDECODABLE"
    NO_VIDEO_STREAM = "NO_VIDEO_STREAM"
    TOO_SHORT = "TOO_SHORT"
    DECODE_TIMEOUT = "DECODE_TIMEOUT"


ALL_CLIPS_TOO_SHORT_MESSAGE = "All training videos are too short to be trainable"


class DatasetError(DomainError):
    """The archive's content cannot make a dataset (FAILED_PRECONDITION); files names the archive paths
    concerned, also in the status's ErrorInfo (`files`, one per line)."""

    reason: DatasetReason

    def __init__(self, reason: DatasetReason, message: str, files: Sequence[str] = ()) -> None:
        super().__init__(ErrorCode.FAILED_PRECONDITION, reason, message, {"files": "\n".join(files)})
        self.files = list(files)


# The status each archive failure is reported with.
ARCHIVE_CODES = {
    ArchiveReason.NO_USABLE_ENTRY: ErrorCode.INVALID_ARGUMENT,
    ArchiveReason.ARCHIVE_TOO_LARGE: ErrorCode.INVALID_ARGUMENT,
    ArchiveReason.NOT_A_ZIP: ErrorCode.INVALID_ARGUMENT,
    ArchiveReason.NOT_FOUND: ErrorCode.NOT_FOUND,
    ArchiveReason.FETCH_FAILED: ErrorCode.UNAVAILABLE,
    ArchiveReason.FETCH_BLOCKED: ErrorCode.INVALID_ARGUMENT,
}


class ArchiveError(DomainError):
    """The archive could not be fetched, is not a zip, or is unsafe or too large to extract."""

    reason: ArchiveReason

    def __init__(self, reason: ArchiveReason, message: str, metadata: dict[str, str] | None = None) -> None:
        super().__init__(ARCHIVE_CODES[reason], reason, message, metadata)


class FetchCancelled(Exception):
    """The caller cancelled the archive fetch; nothing of the archive was kept."""


class UnusableMediaError(Exception):
    """One media file cannot give a sample; the run goes on without it."""

    def __init__(self, reason: SkipReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
