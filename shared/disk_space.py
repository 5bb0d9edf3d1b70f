"""The storage-full guard: before a large write, make sure the volume keeps `min_free_bytes` free.

Every service checks it before each large write (a fetch and its chunks, extraction, a bundle, a latent
cache entry, a checkpoint, an upload chunk, an output). A write that would leave less free space fails
with StorageFull (RESOURCE_EXHAUSTED, reason STORAGE_FULL) before it starts, so the disk never fills up
under a half-written file; a real ENOSPC or EDQUOT from the operating system means the same
(`is_storage_full`). A min_free_bytes of 0 checks only that the write fits.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Annotated

from pydantic import Field

from shared.request.errors import DomainError, ErrorCode
from shared.settings import Setting, SettingsModel

STORAGE_FULL = "STORAGE_FULL"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageFull(DomainError):
    """Writing `needed_bytes` under `path` would leave less than the guard's minimum free."""

    def __init__(self, path: str, free_bytes: int, needed_bytes: int, min_free_bytes: int) -> None:
        self.path, self.free_bytes, self.needed_bytes, self.min_free_bytes = (
            path,
            free_bytes,
            needed_bytes,
            min_free_bytes,
        )
        message = (
            f"the storage volume is full: {free_bytes:,} bytes free, a write of {needed_bytes:,} bytes needs "
            f"{needed_bytes + min_free_bytes:,} (the service keeps {min_free_bytes:,} bytes free)"
        )
        super().__init__(ErrorCode.RESOURCE_EXHAUSTED, STORAGE_FULL, message, {"free_bytes": str(free_bytes)})

    def __reduce__(self):  # crosses process boundaries (preprocessing workers)
        return (StorageFull, (self.path, self.free_bytes, self.needed_bytes, self.min_free_bytes))


def is_storage_full(exc: BaseException) -> bool:
    """True for StorageFull and for the operating system's 'no space' / 'quota exceeded' errors."""
    return isinstance(exc, StorageFull) or (isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS)


# Per principal: the bytes it may keep on a service's storage; None is unlimited. Both services take it.
QuotaStorageBytes = Annotated[
    int | None,
    Setting(
        "--quota-storage-bytes",
        "LTX_QUOTA_STORAGE_BYTES",
        "per principal: bytes its objects may occupy on this service's storage before new work is refused",
    ),
    Field(ge=0),
]


class SpaceGuard(SettingsModel):
    min_free_bytes: Annotated[
        int,
        Setting(
            "--min-free-bytes",
            "LTX_MIN_FREE_BYTES",
            "keep this much free on the storage volume: a large write that would not fails STORAGE_FULL",
        ),
        Field(ge=0),
    ] = 0

    def check(self, path: Path, about_to_write: int = 0) -> None:
        """Raise StorageFull unless writing `about_to_write` bytes at `path` leaves min_free_bytes free.

        `path` may not exist yet: its nearest existing parent names the volume.
        """
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        free = shutil.disk_usage(existing).free
        if free - max(about_to_write, 0) < self.min_free_bytes:
            raise StorageFull(str(path), free, max(about_to_write, 0), self.min_free_bytes)


NO_RESERVE = SpaceGuard()  # checks only that a write fits: the default where no minimum is configured
