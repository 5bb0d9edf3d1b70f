"""Writing a fetched archive: to `.<name>.part` beside its destination, renamed into place only when complete.

PartFile counts the bytes against the size cap and asks the SpaceGuard before the first byte and again
every SPACE_CHECK_BYTES; whatever ends the write early (an error, a cancellation) removes the part file.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from preprocess_svc.errors import ArchiveError, ArchiveReason
from shared.disk_space import SpaceGuard

SPACE_CHECK_BYTES = 16 << 20


def too_large(what: str, size: int, max_bytes: int) -> ArchiveError:
    return ArchiveError(
        ArchiveReason.ARCHIVE_TOO_LARGE,
        f"{what} is {size:,} bytes, more than the limit of {max_bytes:,} bytes",
        {"max_bytes": str(max_bytes)},
    )


class PartFile:
    """Context manager: `write` chunks, and on a clean exit the part file becomes `dest`.

    what: the archive as named in messages ("archive at 'https://...'").
    expected_bytes: its announced size (Content-Length, the file's size) when known, for the space checks.
    """

    def __init__(self, dest: Path, *, what: str, max_bytes: int, space: SpaceGuard, expected_bytes: int | None) -> None:
        self.dest = dest
        self.written = 0
        self._part = dest.with_name(f".{dest.name}.part")
        self._what = what
        self._max_bytes = max_bytes
        self._space = space
        self._expected = expected_bytes
        self._next_space_check = SPACE_CHECK_BYTES
        self._file: BinaryIO | None = None

    def __enter__(self) -> PartFile:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._space.check(self.dest.parent, self._expected or 0)
        self._file = open(self._part, "wb")  # noqa: SIM115 - closed in __exit__
        return self

    def write(self, chunk: bytes) -> None:
        assert self._file is not None, "PartFile.write outside its with block"
        self.written += len(chunk)
        if self.written > self._max_bytes:
            raise too_large(f"{self._what} (so far)", self.written, self._max_bytes)
        if self.written >= self._next_space_check:
            ahead = SPACE_CHECK_BYTES if self._expected is None else max(self._expected - self.written, 0)
            self._space.check(self.dest.parent, ahead)
            self._next_space_check += SPACE_CHECK_BYTES
        self._file.write(chunk)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._file is not None
        renamed = False
        try:
            self._file.close()
            if exc_type is None:
                os.replace(self._part, self.dest)
                renamed = True
        finally:
            if not renamed:
                self._part.unlink(missing_ok=True)
