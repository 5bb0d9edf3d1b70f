"""What one preprocessing run needs: the request's fields and the service's limits."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from shared.auth import LOCAL
from shared.disk_space import SpaceGuard
from shared.fetch_policy import FetchPolicy

GIB = 1 << 30
DEFAULT_MAX_ARCHIVE_BYTES = 20 * GIB  # also the largest upload preprocess_svc accepts by default
DEFAULT_SPLIT_THRESHOLD_S = 30.0
MIN_SPLIT_THRESHOLD_S = 1.0
MAX_SPLIT_THRESHOLD_S = 60.0
_DATASET_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class PreprocessSettings:
    # From the request.
    dataset_id: str  # names the dataset folder: [A-Za-z0-9_-]{1,64}
    training_data_url: str  # local path, file://, http:// or https://
    trigger_phrase: str  # prepended to every caption
    number_of_frames: int  # frames per video sample (the caller snaps it to 8k+1)
    frame_rate: int  # target frames per second
    width: int  # bucket size in pixels
    height: int
    # Videos longer than split_input_duration_threshold seconds are cut into shots, one sample each.
    split_input_into_scenes: bool = True
    split_input_duration_threshold: float = (
        DEFAULT_SPLIT_THRESHOLD_S  # seconds, MIN_SPLIT_THRESHOLD_S..MAX_SPLIT_THRESHOLD_S
    )
    # True: each video (or shot) is resampled in time to exactly number_of_frames frames, played at
    # frame_rate. False: a video must give number_of_frames frames at frame_rate; its first
    # number_of_frames frames are the sample (see preprocess_svc.pipeline).
    auto_scale_input: bool = False
    # Audio (see preprocess_svc.audio): every video sample whose file has an audio track carries it
    # unless with_audio is False; peak-normalised to -1 dBFS; stretched keeping its pitch when
    # auto_scale_input resamples a clip (else trimmed or padded with silence).
    with_audio: bool = True
    audio_normalize: bool = True
    audio_preserve_pitch: bool = True
    # The principal the dataset is for: an upload:// archive must be theirs, the cache is theirs alone.
    # `local` is the one principal of a service without authentication.
    owner: str = LOCAL
    # Service limits.
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    max_uncompressed_bytes: int = 50 * GIB
    max_entries: int = 10_000
    # Where the archive may be read from, and within what time; run_preprocess adds its storage root.
    fetch: FetchPolicy = FetchPolicy()
    space: SpaceGuard = SpaceGuard()  # checked before each large write
    # ffmpeg gets decode_timeout_base_s plus decode_timeout_per_clip_second_s per second of
    # source video it has to read before it is killed and the clip skipped.
    decode_timeout_base_s: float = 60.0
    decode_timeout_per_clip_second_s: float = 10.0
    workers: int = field(default_factory=_cpu_count)

    def __post_init__(self) -> None:
        if not _DATASET_ID.fullmatch(self.dataset_id):
            raise ValueError(f"dataset_id must match [A-Za-z0-9_-]{{1,64}}, got {self.dataset_id!r}")
        for name in ("number_of_frames", "frame_rate", "width", "height", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not MIN_SPLIT_THRESHOLD_S <= self.split_input_duration_threshold <= MAX_SPLIT_THRESHOLD_S:
            raise ValueError(
                f"split_input_duration_threshold must be {MIN_SPLIT_THRESHOLD_S:g}..{MAX_SPLIT_THRESHOLD_S:g} s, "
                f"got {self.split_input_duration_threshold:g}"
            )
