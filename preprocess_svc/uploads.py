"""Archives sent by clients (UploadArchive), stored per owner (shared.uploads_layout) and named upload://<id>.

An upload arrives as a header (declared size, whole-file sha256) and then chunks in order, each with
its own sha256. UploadWriter streams the chunks to <id>.zip.part in its owner's folder, refusing a chunk
that is corrupted, out of order, too big or past the declared size; finish() checks the total size and
the whole-file sha256 and renames the file to <id>.zip atomically. Any failure, or abort() when the
client goes away, deletes the partial file. The id is random (uuid4 hex), never derived from the
content. An upload can be used only by its owner's jobs. Uploads are kept until deleted from storage.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from preprocess_svc.errors import ArchiveError, ArchiveReason
from shared.disk_space import NO_RESERVE, SpaceGuard
from shared.quoting import clip, quote
from shared.request.errors import DomainError, ErrorCode
from shared.request.field_limits import UPLOAD_CHUNK_BYTES
from shared.uploads_layout import UPLOAD_SCHEME, find_upload, upload_id_of

MAX_CHUNK_BYTES = UPLOAD_CHUNK_BYTES
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

log = structlog.get_logger(__name__)


class UploadReason(StrEnum):
    MISSING_HEADER = "MISSING_HEADER"
    INVALID_UPLOAD_HEADER = "INVALID_UPLOAD_HEADER"
    UPLOAD_TOO_LARGE = "UPLOAD_TOO_LARGE"
    CHUNK_TOO_LARGE = "CHUNK_TOO_LARGE"
    CHUNK_OUT_OF_ORDER = "CHUNK_OUT_OF_ORDER"
    CHUNK_CORRUPTED = "CHUNK_CORRUPTED"
    SIZE_MISMATCH = "SIZE_MISMATCH"
    SHA256_MISMATCH = "SHA256_MISMATCH"


class UploadError(DomainError):
    """The upload is refused; nothing of it is kept."""

    def __init__(self, reason: UploadReason, message: str, metadata: dict[str, str] | None = None) -> None:
        super().__init__(ErrorCode.INVALID_ARGUMENT, str(reason), message, metadata)


@dataclass(frozen=True)
class UploadHeader:
    file_name: str  # the client's name for the file, for logs only
    total_size_bytes: int
    sha256: str  # of the whole file, lowercase hex


@dataclass(frozen=True)
class StoredUpload:
    upload_id: str
    path: Path
    sha256: str
    size_bytes: int

    @property
    def uri(self) -> str:
        return f"{UPLOAD_SCHEME}://{self.upload_id}"


def resolve_upload_uri(uri: str, storage_root: Path, owner: str) -> Path:
    """The stored archive that upload://<id> names among `owner`'s uploads; ArchiveError NOT_FOUND if none.

    Another principal's upload id is NOT_FOUND too: nothing says whether it exists."""
    upload_id = upload_id_of(uri)
    if upload_id is None:
        raise ArchiveError(
            ArchiveReason.NOT_FOUND,
            f"{quote(uri)} names no upload: an upload id is 32 lowercase hex digits, as UploadArchive returns it",
        )
    path = find_upload(storage_root, upload_id, owner)
    if path is None:
        raise ArchiveError(
            ArchiveReason.NOT_FOUND, f"no upload {quote(uri)} of yours on this service (never uploaded, or deleted)"
        )
    return path


class UploadWriter:
    """One upload in progress: write() each chunk in order, then finish(); abort() on any other end."""

    def __init__(
        self, directory: Path, header: UploadHeader, *, max_bytes: int, space: SpaceGuard = NO_RESERVE
    ) -> None:
        if header.total_size_bytes > max_bytes:
            raise UploadError(
                UploadReason.UPLOAD_TOO_LARGE,
                f"upload of {header.total_size_bytes:,} bytes is over the limit of {max_bytes:,} bytes",
                {"max_bytes": str(max_bytes)},
            )
        if header.total_size_bytes < 1:
            raise UploadError(
                UploadReason.INVALID_UPLOAD_HEADER,
                f"total_size_bytes must be at least 1 (got {header.total_size_bytes})",
            )
        if not _SHA256_HEX.fullmatch(header.sha256):
            raise UploadError(
                UploadReason.INVALID_UPLOAD_HEADER,
                f"sha256 must be 64 lowercase hex digits (got {quote(header.sha256)})",
            )
        space.check(directory, header.total_size_bytes)
        self.header = header
        self.upload_id = uuid.uuid4().hex
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{self.upload_id}.zip"
        self._part = directory / f"{self.upload_id}.zip.part"
        self._file = open(self._part, "wb")  # noqa: SIM115 - closed by finish() or abort()
        self._digest = hashlib.sha256()
        self._dropped = False
        self.received = 0
        log.info(
            "upload_started", upload_id=self.upload_id, file_name=clip(header.file_name), size=header.total_size_bytes
        )

    def write(self, offset: int, data: bytes, sha256: str) -> None:
        """Append one chunk after checking its place, its size and its sha256."""
        try:
            self._check_chunk(offset, data, sha256)
            self._file.write(data)
        except BaseException:
            self.abort()
            raise
        self._digest.update(data)
        self.received += len(data)

    def _check_chunk(self, offset: int, data: bytes, sha256: str) -> None:
        where = {"offset": str(offset)}
        if offset != self.received:
            raise UploadError(
                UploadReason.CHUNK_OUT_OF_ORDER,
                f"chunk at offset {offset:,} arrived when {self.received:,} bytes were in; send chunks in order",
                where,
            )
        if not 1 <= len(data) <= MAX_CHUNK_BYTES:
            raise UploadError(
                UploadReason.CHUNK_TOO_LARGE if data else UploadReason.SIZE_MISMATCH,
                f"chunk at offset {offset:,} has {len(data):,} bytes; chunks hold 1 to {MAX_CHUNK_BYTES:,} bytes",
                where,
            )
        if self.received + len(data) > self.header.total_size_bytes:
            raise UploadError(
                UploadReason.SIZE_MISMATCH,
                f"chunk at offset {offset:,} goes past the declared size of {self.header.total_size_bytes:,} bytes",
                where,
            )
        if hashlib.sha256(data).hexdigest() != sha256:
            raise UploadError(
                UploadReason.CHUNK_CORRUPTED,
                f"chunk at offset {offset:,} ({len(data):,} bytes) does not match its sha256; it was corrupted",
                where,
            )

    def finish(self) -> StoredUpload:
        """Check the whole file and publish it as <id>.zip."""
        try:
            if self.received != self.header.total_size_bytes:
                raise UploadError(
                    UploadReason.SIZE_MISMATCH,
                    f"upload ended after {self.received:,} bytes; the header declared {self.header.total_size_bytes:,}",
                    {"received_bytes": str(self.received)},
                )
            digest = self._digest.hexdigest()
            if digest != self.header.sha256:
                raise UploadError(
                    UploadReason.SHA256_MISMATCH,
                    f"the uploaded file's sha256 is {digest}; the header declared {self.header.sha256}",
                )
            self._file.close()
            os.replace(self._part, self.path)
        except BaseException:
            self.abort()
            raise
        log.info("upload_stored", upload_id=self.upload_id, size=self.received, sha256=digest)
        return StoredUpload(self.upload_id, self.path, digest, self.received)

    def abort(self) -> None:
        """Drop the partial file (safe to call more than once)."""
        if self._dropped:
            return
        self._dropped = True
        self._file.close()
        self._part.unlink(missing_ok=True)
        log.info("upload_dropped", upload_id=self.upload_id, received=self.received)
