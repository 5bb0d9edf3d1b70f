"""Copying a local archive (an absolute path or a file:// URL) from the folders the policy allows.

The path is judged twice. First as written, symlinks resolved, so that nothing outside the allowed
folders is even opened (no device side effects, no hint whether a file exists there). Then the file is
opened and the path of the opened descriptor itself (/proc/self/fd) is judged again, so a symlink
swapped in between cannot steer the read elsewhere; only a regular file is then copied, from that
descriptor. Without /proc (not Linux) the second check falls back to resolving the path again.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.fetch_clock import FetchClock
from preprocess_svc.part_file import PartFile, too_large
from shared.disk_space import SpaceGuard
from shared.fetch_policy import FetchPolicy, local_path_problem
from shared.quoting import clip, quote

_CHUNK = 1 << 20
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def copy_local_archive(
    path: Path, dest: Path, *, policy: FetchPolicy, clock: FetchClock, max_bytes: int, space: SpaceGuard
) -> None:
    """Copy the file at `path` to `dest`; ArchiveError FETCH_BLOCKED, NOT_FOUND, FETCH_FAILED or ARCHIVE_TOO_LARGE."""
    _refuse_if(local_path_problem(path, Path(os.path.realpath(path)), policy), path)
    what = f"local archive {quote(str(path))}"
    source, size = _open_checked(path, policy)
    with source:
        if size > max_bytes:
            raise too_large(what, size, max_bytes)
        with PartFile(dest, what=what, max_bytes=max_bytes, space=space, expected_bytes=size) as part:
            while chunk := source.read(_CHUNK):
                clock.time_left()
                part.write(chunk)


def _open_checked(path: Path, policy: FetchPolicy) -> tuple[BinaryIO, int]:
    """The regular file at `path`, opened, once its descriptor's real path has passed the policy; and its size."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise ArchiveError(
            ArchiveReason.NOT_FOUND, f"local archive {quote(str(path))} does not exist", {"path": clip(str(path))}
        ) from None
    except OSError as exc:
        raise ArchiveError(
            ArchiveReason.FETCH_FAILED,
            f"cannot open local archive {quote(str(path))}: {exc.strerror}",
            {"path": clip(str(path))},
        ) from None
    try:
        _refuse_if(local_path_problem(path, _opened_path(fd, path), policy), path)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
            _refuse_if(f"local archive {quote(str(path))} may not be read: it is {kind}, not a regular file", path)
        os.set_blocking(fd, True)
        return open(fd, "rb"), info.st_size  # noqa: SIM115 - the caller closes it
    except BaseException:
        os.close(fd)
        raise


def _opened_path(fd: int, path: Path) -> Path:
    """The real path of the file open as `fd`, from the kernel where it can tell."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except FileNotFoundError:  # no /proc on this system
        return Path(os.path.realpath(path))


def _refuse_if(problem: str | None, path: Path) -> None:
    if problem is not None:
        raise ArchiveError(ArchiveReason.FETCH_BLOCKED, problem, {"path": clip(str(path))})
