"""The dataset report: what preprocessing did with every file of an archive, as plain data.

preprocess_svc builds one FileReport per file as soon as the file is fully handled; train_svc
gathers them on the job (DatasetReport) and writes them out as dataset_report.json, which also names the
LTX version of the base the job trains on (the samples were encoded for it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class FileOutcome(Enum):
    USED = "USED"  # at least one sample was made from it
    SKIPPED = "SKIPPED"  # a media file that gave no sample
    IGNORED = "IGNORED"  # not media: an orphan caption or an unsupported file


@dataclass(frozen=True)
class SourceFacts:
    """An input file as it was before preprocessing."""

    width: int  # display size: rotation and non-square pixels applied
    height: int
    coded_width: int
    coded_height: int
    fps: float  # 0.0 when the file does not say
    duration_s: float
    frames: int
    codec: str
    rotation: int
    has_audio: bool


@dataclass(frozen=True)
class SampleFacts:
    """One sample made from an input file, as it was fitted."""

    sample_id: str
    frames: int
    fps: float
    width: int
    height: int
    fit: str  # "first_frames" | "auto_scale" | "image"
    start_s: float  # part of the source the sample covers
    end_s: float
    time_scale: float = 1.0  # >1: plays faster than the source (auto_scale only)
    audio_fit: str = ""  # "" (no audio) | "cut" | "stretch" | "trim_pad"
    audio_gain: float = 1.0  # applied by peak normalisation


@dataclass(frozen=True)
class PartSkipped:
    """A part of a used file (a shot) that gave no sample."""

    sample_id: str
    reason: str
    message: str


@dataclass(frozen=True)
class FileReport:
    path: str  # inside the archive
    outcome: FileOutcome
    reason: str = ""  # SKIPPED: a skip reason; IGNORED: ORPHAN_CAPTION | IGNORED_FILE
    message: str = ""
    media_kind: str = ""  # "video" | "image"; "" when IGNORED
    caption_path: str = ""  # the paired caption file, "" when none
    caption_found: bool = False  # a non-empty caption was found
    source: SourceFacts | None = None
    scene_cuts_s: tuple[float, ...] = ()
    samples: tuple[SampleFacts, ...] = ()
    skipped_parts: tuple[PartSkipped, ...] = ()


@dataclass(frozen=True)
class DatasetReport:
    media_kind: str
    files: tuple[FileReport, ...]  # sorted by path
    ltx_version: str = ""  # of the job's base ("2.3", "2.5"); "" where no job is known (the CLI's own view)

    @classmethod
    def of(cls, files: list[FileReport] | tuple[FileReport, ...], ltx_version: str = "") -> DatasetReport:
        kinds = {f.media_kind for f in files if f.media_kind}
        ordered = tuple(sorted(files, key=lambda f: f.path))
        return cls(media_kind=kinds.pop() if len(kinds) == 1 else "", files=ordered, ltx_version=ltx_version)

    def count(self, outcome: FileOutcome) -> int:
        return sum(1 for f in self.files if f.outcome is outcome)

    @property
    def samples(self) -> int:
        return sum(len(f.samples) for f in self.files)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ltx_version": self.ltx_version,
            "media_kind": self.media_kind,
            "files_used": self.count(FileOutcome.USED),
            "files_skipped": self.count(FileOutcome.SKIPPED),
            "files_ignored": self.count(FileOutcome.IGNORED),
            "samples": self.samples,
            "files": [{**asdict(f), "outcome": f.outcome.value} for f in self.files],
        }
