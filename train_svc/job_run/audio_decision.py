"""Whether a job trains audio, by the spec's rules, once every sample is known.

with_audio unset  audio only if every sample has a track; otherwise video only, and each clip
                  without sound is named in a NO_AUDIO_TRACK warning event (and in the report)
with_audio true   every sample must have a track: otherwise the job fails before training,
                  INVALID_ARGUMENT / AUDIO_MISSING naming every clip without one (billed 0)
with_audio false  audio is ignored
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.bundle_ref import BundleRef
from train_svc.jobs.events import DatasetFailure, DatasetWarning, JobError

NO_AUDIO_TRACK = "NO_AUDIO_TRACK"


@dataclass(frozen=True)
class AudioDecision:
    train_audio: bool
    silent_clips: tuple[str, ...]  # archive paths of the clips without an audio track

    def warnings(self) -> list[DatasetWarning]:
        if self.train_audio:
            return []
        return [
            DatasetWarning(
                clip,
                NO_AUDIO_TRACK,
                "no audio track; with_audio is unset and not every clip has sound, so this run trains video only",
            )
            for clip in self.silent_clips
        ]

    def describe(self) -> str:
        if self.train_audio:
            return "video and audio"
        if self.silent_clips:
            return f"video only ({len(self.silent_clips)} clip(s) without sound)"
        return "video only"


def decide_audio(with_audio: bool | None, bundles: list[BundleRef], *, images: bool) -> AudioDecision:
    """images: the dataset is still images, which have no sound to speak of (unset means video only, quietly)."""
    silent = tuple(sorted({b.source_path for b in bundles if not b.has_audio}))
    if with_audio is False or (with_audio is None and images):
        return AudioDecision(False, ())
    if with_audio is True and silent:
        raise DatasetFailure(
            JobError(
                "INVALID_ARGUMENT",
                "AUDIO_MISSING",
                f"with_audio is true but {len(silent)} clip(s) have no audio track: {', '.join(silent)}; "
                "add sound to them, remove them, or leave with_audio unset to train video only",
                silent,
            )
        )
    return AudioDecision(not silent, silent if with_audio is None else ())
