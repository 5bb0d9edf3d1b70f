"""Keeps the latent cache under --latent-cache-max-bytes: least recently used entries go first, never one
that a live job (QUEUED, PREPROCESSING, TRAINING or EXPORTING in the job store, on any replica) references.

Recency: an entry's modification time, set when it is written and touched by every hit.

References: before a job reads or writes an entry it appends the entry's path (relative to the cache's
folder) to jobs/<job id>/latent_cache_refs, and syncs it, so the reference outlives a crash of its
process: the job resumed on another replica reads the same entries again. The runner removes the file
once the job has ended; a job's folder removed whole (retention) takes it along too. The evictor counts
the references of the jobs the store says are live, and ignores the others (ended, deleted, unknown):
a stale file never pins entries for good.

Eviction, per pass: the least recently used unreferenced entries are renamed to `.<name>.<random>.evicted`,
the references are read again, and an entry referenced meanwhile is renamed back (the same content as
any copy the job wrote again meanwhile); the others are removed. A job appends its reference before it
reads the entry, so either the evictor sees the reference, or the job finds the entry already gone (a
miss: it encodes it again): a job never trains on an entry that goes away under it. Tombstones an
evictor left behind (it died mid-pass) are removed by a later pass once an hour old.

Passes run when the bytes this process knows of (the last pass's total, plus what it wrote since) go over
the bound: at the first write of the process, then after a write that crosses it. Other replicas' writes
are counted by their own passes. All owners' entries count toward the one bound.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

REFS_FILE = "latent_cache_refs"
_EVICTED = ".evicted"
_STALE_TOMBSTONE_S = 3600.0
_ENTRY_SUFFIX = ".safetensors"

IsLive = Callable[[str], bool]  # job id -> whether the store has it in a non-final state


def refs_path(storage_root: Path, job_id: str) -> Path:
    return storage_root / "jobs" / job_id / REFS_FILE


class JobReferences:
    """The entries one job uses, recorded in its refs file before it touches them."""

    def __init__(self, storage_root: Path, job_id: str, cache_root: Path):
        self.path = refs_path(storage_root, job_id)
        self._cache_root = cache_root
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def add(self, entry: Path) -> None:
        name = entry.relative_to(self._cache_root).as_posix()
        with self._lock:
            if name in self._known:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(name + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._known.add(name)

    def clear(self) -> None:
        """The job has ended: its entries may be evicted."""
        self.path.unlink(missing_ok=True)


def live_references(storage_root: Path, cache_root: Path, is_live: IsLive) -> set[Path]:
    """Every entry a live job references."""
    referenced: set[Path] = set()
    jobs = storage_root / "jobs"
    for refs in jobs.glob(f"*/{REFS_FILE}") if jobs.is_dir() else ():
        if not is_live(refs.parent.name):
            continue
        try:
            lines = refs.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:  # the job ended meanwhile
            continue
        referenced.update(cache_root / line for line in lines if line and ".." not in line.split("/"))
    return referenced


@dataclass(frozen=True)
class _Entry:
    path: Path
    last_used: float
    size: int


def _scan(cache_root: Path) -> list[_Entry]:
    """Every entry of every owner; removes tombstones left behind long ago."""
    entries = []
    now = time.time()
    for path in cache_root.glob("*/*/*") if cache_root.is_dir() else ():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.name.endswith(_EVICTED):
            if now - stat.st_ctime > _STALE_TOMBSTONE_S:
                path.unlink(missing_ok=True)
        elif path.name.endswith(_ENTRY_SUFFIX) and not path.name.startswith("."):
            entries.append(_Entry(path, stat.st_mtime, stat.st_size))
    return entries


class LatentEvictor:
    """One per process: bounds the cache under `cache_root` (every owner's folder) to `max_bytes`."""

    def __init__(self, storage_root: Path, cache_root: Path, max_bytes: int, is_live: IsLive):
        self.storage_root = storage_root
        self.cache_root = cache_root
        self.max_bytes = max_bytes
        self._is_live = is_live
        self._known_bytes: int | None = None  # None: not scanned yet
        self._lock = threading.Lock()

    def references(self, job_id: str) -> JobReferences:
        return JobReferences(self.storage_root, job_id, self.cache_root)

    def written(self, size: int) -> None:
        """An entry of `size` bytes was written: a pass runs when the cache may now be over the bound."""
        with self._lock:
            if self._known_bytes is not None:
                self._known_bytes += size
                if self._known_bytes <= self.max_bytes:
                    return
            try:
                self._known_bytes = self.evict()
            except Exception as exc:  # the store or the storage failed to answer: the next write tries again
                self._known_bytes = None
                log.warning("latent cache eviction failed", error=repr(exc))

    def evict(self) -> int:
        """One pass; returns the bytes the cache holds after it."""
        entries = _scan(self.cache_root)
        total = sum(entry.size for entry in entries)
        if total <= self.max_bytes:
            return total
        referenced = live_references(self.storage_root, self.cache_root, self._is_live)
        taken: list[tuple[_Entry, Path]] = []
        over = total - self.max_bytes
        for entry in sorted(entries, key=lambda e: e.last_used):
            if over <= 0:
                break
            if entry.path in referenced:
                continue
            tombstone = entry.path.with_name(f".{entry.path.name}.{secrets.token_hex(6)}{_EVICTED}")
            try:
                os.rename(entry.path, tombstone)
            except FileNotFoundError:  # another replica's evictor took it
                continue
            taken.append((entry, tombstone))
            over -= entry.size
        referenced = live_references(self.storage_root, self.cache_root, self._is_live)
        for entry, tombstone in taken:
            if entry.path in referenced:  # a job named it while it was being taken away
                os.replace(tombstone, entry.path)  # the same content as any the job wrote again meanwhile
                log.info("latent cache entry kept: a job took it up", entry=entry.path.name)
            else:
                tombstone.unlink(missing_ok=True)
                total -= entry.size
                log.info("latent cache entry evicted", entry=entry.path.name, size_bytes=entry.size)
        if total > self.max_bytes:
            log.warning("latent cache over its bound: live jobs use the rest", bytes=total, max_bytes=self.max_bytes)
        return total
