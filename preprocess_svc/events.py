"""Events a preprocessing run yields, in this order:

DatasetWarning*  (pairing: media without caption, orphan captions, ignored files)
FileReport*      (IGNORED: one per orphan caption or unsupported file)
Progress         (files_total known, nothing done yet)
then per media file (or shot), as workers finish (not in archive order):
  BundleWritten | SkippedFile, followed by Progress, then the file's FileReport once the file is done
  (a split clip's report follows its last shot); a sample kept without its unreadable audio track
  is preceded by a DatasetWarning AUDIO_UNREADABLE
Summary          (last event of a successful run; a failed run raises instead)

A cache hit (preprocess_svc.dataset_cache) replays the earlier run's events in the same order, its
bundles pointing at the cache's files, then a Summary with from_cache=True.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared.bundle_ref import BundleRef
from shared.dataset_report import FileReport, SampleFacts, SourceFacts

MediaKind = Literal["video", "image"]


@dataclass(frozen=True)
class Progress:
    files_total: int
    files_done: int  # used or skipped
    samples_written: int
    files_skipped: int


@dataclass(frozen=True)
class SkippedFile:
    path: str  # inside the archive (a shot's sample id for a shot)
    reason: str  # a SkipReason value
    message: str
    source: SourceFacts | None = None  # the file as probed, when it could be


@dataclass(frozen=True)
class DatasetWarning:
    path: str  # inside the archive
    code: str  # NO_CAPTION, ORPHAN_CAPTION, IGNORED_FILE, AUDIO_UNREADABLE
    message: str


@dataclass(frozen=True, kw_only=True)
class BundleWritten(BundleRef):
    """The BundleRef the caller gets (uri: file:///... of path), and what only this service needs."""

    path: Path
    source: SourceFacts  # the file it came from
    facts: SampleFacts  # how it was fitted, for the dataset report
    audio_problem: str = ""  # the file's audio track could not be used: why (the sample is kept without it)
    # True: path is this run's own copy, which BUNDLE_DELIVERY_BY_VALUE deletes once sent. False: path is
    # a file of the preprocess cache (a cache hit), which must be left in place.
    run_copy: bool = True


@dataclass(frozen=True)
class Summary:
    media_kind: MediaKind
    samples: int
    files_skipped: int
    wall_seconds: float
    from_cache: bool = False  # the run replayed a cached earlier run: nothing was extracted or decoded
    # SHA-256 of the archive's content and the shaping settings (preprocess_svc.dataset_cache); "" when
    # the cache is off. Not compared: it identifies the inputs, not the outcome.
    cache_key: str = field(default="", compare=False)


PreprocessEvent = Progress | SkippedFile | DatasetWarning | BundleWritten | FileReport | Summary
