"""Events a preprocessing run yields, in this order:

DatasetWarning*  (pairing: media without caption, orphan captions, ignored files)
Progress         (files_total known, nothing done yet)
then per media file, as workers finish (not in archive order):
  BundleWritten | Skipped, followed by Progress
Summary          (last event of a successful run; a failed run raises instead)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MediaKind = Literal["video", "image"]


@dataclass(frozen=True)
class Progress:
    files_total: int
    files_done: int  # used or skipped
    samples_written: int
    files_skipped: int


@dataclass(frozen=True)
class Skipped:
    path: str  # inside the archive
    reason: str  # a SkipReason value
    message: str


@dataclass(frozen=True)
class DatasetWarning:
    path: str  # inside the archive
    code: str  # NO_CAPTION, ORPHAN_CAPTION, IGNORED_FILE
    message: str


@dataclass(frozen=True)
class BundleWritten:
    sample_id: str
    path: Path
    uri: str  # file:///... of path
    sha256: str
    size_bytes: int
    frames: int
    height: int
    width: int
    fps: float
    caption: str  # trigger phrase included
    source_path: str  # inside the archive


@dataclass(frozen=True)
class Summary:
    media_kind: MediaKind
    samples: int
    files_skipped: int
    wall_seconds: float


PreprocessEvent = Progress | Skipped | DatasetWarning | BundleWritten | Summary
