"""A content-keyed cache of preprocessed bundles: the same archive with the same settings is done once.

Each owner (principal) has a cache of its own: one tenant's hit must never reveal that another
trained on the same bytes. The key (cache_key) is a SHA-256 over CACHE_FORMAT, the owner, the SHA-256
of the fetched archive's bytes and every PreprocessSettings field that shapes the bundles or the
reports (SHAPING_FIELDS); not the dataset id, the URL, the delivery, the limits or the worker count.
So the same owner's same archive at another URL, for another dataset id, is a hit.

On-disk layout under the storage root (<o> = the owner's key, shared.auth.owner_key):
  cache/preprocess/<o>/<key>/manifest.json      the run's events, in order, to replay it (no Summary)
  cache/preprocess/<o>/<key>/bundles/<file>     its bundles (hard links of the run's own files)
  cache/preprocess/<o>/<key>/lock               locked while replayed; its mtime is the entry's last use
  cache/preprocess/<o>/.<key>.<random>.tmp/     a run in progress (CacheRecorder), never read

A miss records the run as it goes (CacheRecorder.record): each bundle is hard-linked into the run's
staging folder as soon as it is written, before anyone (BUNDLE_DELIVERY_BY_VALUE) deletes the run's copy.
Only a run that completes is committed: manifest.json is written, then the staging folder is renamed
to <key>/ in one step; a failed or closed run's staging folder is removed. An entry is never changed
once committed; when two runs with the same key race, the first rename wins and the other's staging
folder is dropped. A damaged entry (unreadable manifest, a bundle missing or of the wrong size) is
logged, removed, and counts as a miss.

Bound (--preprocess-cache-max-bytes, 0: none): after each commit, and when the service starts, the
least recently used entries of all owners are evicted until the cache holds no more than the bound;
an entry being replayed (by any process or replica) is never evicted (preprocess_svc.cache_eviction,
which also says how recency, the locks and the bytes of hard-linked bundles are counted). A hit holds
its entry from the lookup until the replay ends (CachedRun.release).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from preprocess_svc.cache_eviction import HOLDS, LOCK, evict_least_recent
from preprocess_svc.errors import SkipReason
from preprocess_svc.events import (
    BundleWritten,
    DatasetWarning,
    MediaKind,
    PreprocessEvent,
    Progress,
    SkippedFile,
    Summary,
)
from preprocess_svc.settings import PreprocessSettings
from shared.auth import owner_key
from shared.dataset_report import FileReport
from shared.plain_json import from_plain, to_plain

CACHE_FORMAT = "ltx-preprocess-cache/2"  # bump when the bundles, the reports or this layout change
SHAPING_FIELDS = (
    "trigger_phrase",
    "number_of_frames",
    "frame_rate",
    "width",
    "height",
    "split_input_into_scenes",
    "split_input_duration_threshold",
    "auto_scale_input",
    "with_audio",
    "audio_normalize",
    "audio_preserve_pitch",
)
MANIFEST = "manifest.json"
_EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (Progress, SkippedFile, DatasetWarning, BundleWritten, FileReport)
}
_FORMER_NAMES: dict[str, type] = {"Skipped": SkippedFile}  # in entries committed before a rename
_BUNDLE_LOCAL_FIELDS = ("path", "uri", "run_copy")  # rebuilt from the entry's folder on a hit

log = structlog.get_logger(__name__)


def cache_key(archive_sha256: str, settings: PreprocessSettings) -> str:
    shaping = {name: getattr(settings, name) for name in SHAPING_FIELDS}
    text = json.dumps([CACHE_FORMAT, settings.owner, archive_sha256, shaping], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_root(storage_root: Path, owner: str) -> Path:
    return storage_root / "cache" / "preprocess" / owner_key(owner)


def bound_cache(storage_root: Path, max_bytes: int) -> None:
    """Evict least recently used entries until the cache holds at most max_bytes (0: no bound); a failing
    storage only logs: the cache is an optimisation."""
    if max_bytes <= 0:
        return
    try:
        evict_least_recent(storage_root / "cache" / "preprocess", max_bytes)
    except OSError as exc:
        log.warning("preprocess_cache_eviction_failed", problem=str(exc))


@dataclass(frozen=True)
class CachedRun:
    """A committed entry, read back: its events in the order the run yielded them, and its summary."""

    key: str
    entry: Path
    events: list[PreprocessEvent]  # bundles point at the entry's files (run_copy=False)
    media_kind: MediaKind
    samples: int
    files_skipped: int

    def summary(self, wall_seconds: float) -> Summary:
        return Summary(
            media_kind=self.media_kind,
            samples=self.samples,
            files_skipped=self.files_skipped,
            wall_seconds=wall_seconds,
            from_cache=True,
            cache_key=self.key,
        )

    def release(self) -> None:
        """The replay is over: the entry may be evicted again (call once per lookup that returned it)."""
        HOLDS.release(self.entry)


class DatasetCache:
    def __init__(self, storage_root: Path, owner: str, max_bytes: int = 0) -> None:
        """`max_bytes`: the bound on the whole preprocess cache (every owner's entries); 0: none."""
        self.root = cache_root(storage_root, owner)
        self.storage_root = storage_root
        self.max_bytes = max_bytes

    def entry(self, key: str) -> Path:
        return self.root / key

    def lookup(self, key: str) -> CachedRun | None:
        """The committed entry for key, held until its release(), or None on a miss; a damaged entry is
        removed and is a miss."""
        entry = self.entry(key)
        try:
            if not entry.is_dir() or not HOLDS.hold(entry):  # not there, or evicted just now
                return None
        except OSError as exc:  # e.g. a read-only cache whose entry has no lock file yet
            log.warning("preprocess_cache_entry_unreadable", cache_key=key, entry=str(entry), problem=str(exc))
            return None
        try:
            return _read_entry(key, entry)
        except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:  # a file gone or not as recorded
            log.warning("preprocess_cache_entry_damaged", cache_key=key, entry=str(entry), problem=str(exc))
            HOLDS.release(entry)
            _remove_aside(entry, self.root, key, "damaged")
            return None
        except OSError as exc:  # the storage failed to answer: maybe the entry is fine; not used this time
            log.warning("preprocess_cache_entry_unreadable", cache_key=key, entry=str(entry), problem=str(exc))
            HOLDS.release(entry)
            return None

    def evict(self) -> None:
        """Bring the whole cache (every owner's entries) under max_bytes; no-op without a bound."""
        bound_cache(self.storage_root, self.max_bytes)

    def recorder(self, key: str) -> CacheRecorder:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=self.root))
        return CacheRecorder(key, staging, self.entry(key))


class CacheRecorder:
    """Records one run into its private staging folder; commit() publishes it, discard() drops it."""

    def __init__(self, key: str, staging: Path, entry: Path) -> None:
        self.key = key
        self._staging = staging
        self._entry = entry
        self._bundles = staging / "bundles"
        self._bundles.mkdir()
        self._events: list[dict[str, Any]] = []
        self._done = False

    def record(self, event: PreprocessEvent) -> None:
        """Keep a (non-Summary) event; a bundle's file is linked into the staging folder right away."""
        if self._done:
            return
        if isinstance(event, SkippedFile) and event.reason == SkipReason.DECODE_TIMEOUT:
            # A timeout may say more about the machine's load than about the clip: not kept for good.
            log.info("preprocess_cache_not_stored", cache_key=self.key, reason="a clip timed out", path=event.path)
            self.discard()
            return
        if isinstance(event, BundleWritten):
            try:
                _link_or_copy(event.path, self._bundles / event.path.name)
            except OSError as exc:  # the cache is an optimisation: the run goes on without it
                log.warning("preprocess_cache_record_failed", cache_key=self.key, problem=str(exc))
                self.discard()
                return
        self._events.append(_encode_event(event))

    def commit(self, summary: Summary) -> None:
        """Publish the recorded run as the entry for its key (unless another run published it first)."""
        if self._done:
            return
        try:
            self._publish(summary)
        except OSError as exc:  # the cache is an optimisation: the run has succeeded all the same
            log.warning("preprocess_cache_store_failed", cache_key=self.key, problem=str(exc))
            self.discard()

    def _publish(self, summary: Summary) -> None:
        manifest = {
            "format": CACHE_FORMAT,
            "cache_key": self.key,
            "media_kind": summary.media_kind,
            "samples": summary.samples,
            "files_skipped": summary.files_skipped,
            "events": self._events,
        }
        tmp = self._staging / f".{MANIFEST}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._staging / MANIFEST)
        (self._staging / LOCK).touch()  # its last use: now
        try:
            os.rename(self._staging, self._entry)
        except OSError:
            if not self._entry.is_dir():
                raise
            self._done = True
            # A concurrent run with the same key committed first; its entry is as good as ours.
            shutil.rmtree(self._staging, ignore_errors=True)
            log.info("preprocess_cache_entry_exists", cache_key=self.key)
            return
        self._done = True
        log.info("preprocess_cache_stored", cache_key=self.key, samples=summary.samples)

    def discard(self) -> None:
        """Drop the staging folder of a run that did not complete (no-op after commit)."""
        if not self._done:
            self._done = True
            shutil.rmtree(self._staging, ignore_errors=True)


def _read_entry(key: str, entry: Path) -> CachedRun:
    manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    if manifest["format"] != CACHE_FORMAT or manifest["cache_key"] != key:
        raise ValueError(f"manifest is for {manifest['format']!r} / {manifest['cache_key']!r}")
    events = [_decode_event(item, entry / "bundles") for item in manifest["events"]]
    for event in events:
        if isinstance(event, BundleWritten):
            size = event.path.stat().st_size  # FileNotFoundError (an OSError) when it is gone
            if size != event.size_bytes:
                raise ValueError(f"{event.path.name} has {size} bytes, the manifest says {event.size_bytes}")
    return CachedRun(
        key=key,
        entry=entry,
        events=events,
        media_kind=manifest["media_kind"],
        samples=int(manifest["samples"]),
        files_skipped=int(manifest["files_skipped"]),
    )


def _remove_aside(entry: Path, root: Path, key: str, why: str) -> None:
    # Renamed away first, so no reader ever finds it half deleted; a concurrent remover may win the rename.
    aside = root / f".{key}.{secrets.token_hex(6)}.{why}"
    try:
        os.rename(entry, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(source, target)


def _encode_event(event: PreprocessEvent) -> dict[str, Any]:
    kind = type(event).__name__
    if kind not in _EVENT_TYPES:
        raise TypeError(f"{kind} is not a cacheable preprocessing event")
    data = to_plain(event)
    if isinstance(event, BundleWritten):
        for name in _BUNDLE_LOCAL_FIELDS:
            del data[name]
        data["file"] = event.path.name
    return {"type": kind, "data": data}


def _decode_event(item: dict[str, Any], bundles: Path) -> PreprocessEvent:
    cls = _EVENT_TYPES.get(item["type"]) or _FORMER_NAMES[item["type"]]
    data = dict(item["data"])
    if cls is BundleWritten:
        name = data.pop("file")
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad bundle file name {name!r}")
        path = bundles / name
        return dataclasses.replace(
            from_plain(cls, {**data, "path": "", "uri": ""}), path=path, uri=path.resolve().as_uri(), run_copy=False
        )
    return from_plain(cls, data)
