"""Keeps the preprocess cache under --preprocess-cache-max-bytes: least recently used entries go first,
never one that a replay (of any process or replica on the shared storage) is reading.

Recency: each entry has a `lock` file whose modification time is its last use: set when the entry is
committed, touched by every hit. It is on the shared storage, so every replica sees the same order and
it survives restarts.

Protection: a replay holds a shared POSIX lock (fcntl.lockf; NFS supports it) on the entry's lock file
from the lookup until the replay ends; the evictor takes an exclusive lock without waiting and skips an
entry it cannot lock. POSIX locks belong to the process, so they do not keep two threads of one process
apart, and closing any descriptor of the file drops all of them: a process therefore keeps one counted
descriptor per entry it replays (EntryHolds), and its own evictor skips those entries.

Eviction renames the entry, under the exclusive lock, to `.<key>.<random>.evicted`, then removes it. A
reader that opened the lock file before the rename gets its shared lock only after it, sees that the
entry's path no longer names the file it locked, and takes the lookup as a miss: a replay never finds an
entry half removed. Leftovers of an evictor that died after the rename are removed by the next pass.

Bytes: an entry counts the full size of each of its files. Its bundles are hard links of the run's own
bundle files; while the dataset folder still holds its copy, evicting the entry frees nothing on the
volume until that copy goes too (the next run of the dataset removes it; delivery by value deletes it
once sent). Counting them in full keeps the bound true of the cache itself, whatever becomes of the
dataset folders; the log of each eviction says how many bytes were freed at once (files with one link).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

LOCK = "lock"
_EVICTED = ".evicted"


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (an evicted entry's lock file has moved)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


class EntryHolds:
    """This process's shared locks on the entries it replays, counted, one descriptor per entry."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[Path, tuple[int, int]] = {}  # lock file -> (descriptor, replays holding it)

    def hold(self, entry: Path) -> bool:
        """Take a shared hold on the entry and mark it used now; False when it is gone (evicted)."""
        lock_file = entry / LOCK
        with self._mutex:
            if lock_file in self._held:
                fd, count = self._held[lock_file]
                self._held[lock_file] = (fd, count + 1)
            else:
                try:
                    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)  # an entry older than the lock file
                except FileNotFoundError:
                    return False
                try:
                    fcntl.lockf(fd, fcntl.LOCK_SH)  # waits only while an evictor renames the entry away
                    if not _same_file(fd, lock_file):
                        os.close(fd)
                        return False
                except BaseException:
                    os.close(fd)
                    raise
                self._held[lock_file] = (fd, 1)
        try:
            os.utime(fd)  # the entry's recency
        except OSError as exc:  # a read-only cache still serves its hits
            log.warning("preprocess_cache_recency_not_recorded", entry=str(entry), problem=str(exc))
        return True

    def release(self, entry: Path) -> None:
        lock_file = entry / LOCK
        with self._mutex:
            fd, count = self._held.pop(lock_file)
            if count > 1:
                self._held[lock_file] = (fd, count - 1)
            else:
                os.close(fd)  # drops the process's lock

    def take_away(self, entry: Path, tombstone: Path) -> bool:
        """Rename an entry nobody replays to `tombstone`; False when it is replayed, or already gone."""
        lock_file = entry / LOCK
        with self._mutex:  # this process's replays wait to take a hold until the rename is done
            if lock_file in self._held:
                return False
            try:
                fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                return False
            try:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:  # another process or replica replays it
                    return False
                if not _same_file(fd, lock_file):
                    return False
                os.rename(entry, tombstone)
                return True
            finally:
                os.close(fd)


HOLDS = EntryHolds()  # one per process: see the module's docstring


@dataclass(frozen=True)
class _Entry:
    path: Path
    last_used: float
    size: int


def _entry(path: Path) -> _Entry | None:
    try:
        lock = path / LOCK
        last_used = (lock if lock.exists() else path).stat().st_mtime
        size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    except FileNotFoundError:  # evicted or removed as damaged meanwhile
        return None
    return _Entry(path, last_used, size)


def _scan(cache_base: Path) -> list[_Entry]:
    """Every committed entry of every owner; removes the leftovers of evictions that did not finish."""
    entries = []
    for owner in cache_base.iterdir() if cache_base.is_dir() else ():
        for child in owner.iterdir() if owner.is_dir() else ():
            if child.name.endswith(_EVICTED):
                shutil.rmtree(child, ignore_errors=True)
            elif not child.name.startswith(".") and (entry := _entry(child)) is not None:
                entries.append(entry)
    return entries


def _bytes_freed(path: Path) -> int:
    """The bytes removing `path` frees at once: its files not linked from elsewhere."""
    freed = 0
    for file in path.rglob("*"):
        stat = file.lstat()
        if file.is_file() and stat.st_nlink == 1:
            freed += stat.st_size
    return freed


def evict_least_recent(cache_base: Path, max_bytes: int) -> int:
    """Evict entries under `cache_base` (cache/preprocess), least recently used first, until they hold at
    most `max_bytes` or only replayed ones are left; returns the bytes the cache holds then. 0: no bound."""
    entries = _scan(cache_base)
    total = sum(entry.size for entry in entries)
    if max_bytes <= 0 or total <= max_bytes:
        return total
    for entry in sorted(entries, key=lambda e: e.last_used):
        if total <= max_bytes:
            break
        tombstone = entry.path.parent / f".{entry.path.name}.{secrets.token_hex(6)}{_EVICTED}"
        if not HOLDS.take_away(entry.path, tombstone):
            log.info("preprocess_cache_entry_in_use", entry=entry.path.name)
            continue
        freed = _bytes_freed(tombstone)
        shutil.rmtree(tombstone, ignore_errors=True)
        total -= entry.size
        log.info(
            "preprocess_cache_entry_evicted",
            cache_key=entry.path.name,
            size_bytes=entry.size,
            freed_bytes=freed,
            cache_bytes=total,
            max_bytes=max_bytes,
        )
    if total > max_bytes:
        log.warning("preprocess_cache_over_bound", cache_bytes=total, max_bytes=max_bytes, reason="entries in use")
    return total
