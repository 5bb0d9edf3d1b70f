"""The work one pool process does for one media file or one shot: probe, fit, write the bundle.

A video longer than the split threshold is cut into shots here and handed back as a ShotPlan; the
run (preprocess_svc.pipeline) then queues one ShotJob per shot. See the pipeline's docstring for the
fitting rules (auto_scale_input, first frames) and the sample ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from preprocess_svc.errors import (
    UnusableMediaError,
)
from preprocess_svc.events import BundleWritten, Skipped
from preprocess_svc.media import (
    MediaInfo,
    TimeRange,
    decode_timeout_s,
    fit_image,
    fit_resampled,
    fit_video,
    probe,
)
from preprocess_svc.pairing import MediaSample
from preprocess_svc.scenes import Shot, detect_shots, fit_shot, shot_time_range
from shared.bundle import SampleBundle, write_bundle

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def bundle_file_name(sample_id: str) -> str:
    """A readable file name for a sample's bundle, unique per sample id (a hash of the id is appended)."""
    readable = _UNSAFE_NAME_CHARS.sub("_", sample_id.replace("/", "__")).strip("._")[:80]
    digest = hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:12]
    return f"{readable}-{digest}.safetensors"


@dataclass(frozen=True)
class SampleJob:
    """Everything a worker process needs to turn one media file into a bundle, or into shots."""

    sample: MediaSample
    bundle_path: Path
    frames: int
    frame_rate: int
    width: int
    height: int
    timeout_base_s: float
    timeout_per_second_s: float
    split_threshold_s: float | None  # videos longer than this are cut into shots; None: never
    auto_scale: bool = False  # resample each video (or shot) to exactly `frames` frames instead of cutting it


@dataclass(frozen=True)
class ShotJob:
    """One shot of a split clip, fitted to a bundle of its own by a worker process."""

    clip: SampleJob
    info: MediaInfo
    number: int  # from 1
    shot: Shot
    cuts_s: tuple[float, ...]  # every cut of the clip, in seconds

    @property
    def sample_id(self) -> str:
        return shot_sample_id(self.clip.sample.sample_id, self.number)


@dataclass(frozen=True)
class ShotPlan:
    """A clip that was cut into shots: one ShotJob per shot, to be fitted in parallel."""

    sample_id: str
    shots: list[ShotJob]


def shot_sample_id(clip_sample_id: str, number: int) -> str:
    """The sample id of a clip's number-th shot (from 1), e.g. set_a/long.mp4#shot2."""
    return f"{clip_sample_id}#shot{number}"


def _span_metadata(fit: str, start_s: float, end_s: float) -> dict[str, str]:
    """source.* additions naming how a video sample was fitted and the part of the clip it covers."""
    return {"fit": fit, "start_s": f"{start_s:.6g}", "end_s": f"{end_s:.6g}"}


def _auto_scale(
    job: SampleJob, info: MediaInfo, *, source_frames: int, start_s: float, time_range: TimeRange | None, label: str
) -> tuple[np.ndarray, dict[str, str]]:
    """Resample all of a clip, or of its time range, to job.frames frames: (pixels, source.* additions)."""
    span_s = info.duration_s if time_range is None else time_range.duration_s
    pixels, decoded = fit_resampled(
        job.sample.path,
        source_frames=source_frames,
        frames=job.frames,
        width=job.width,
        height=job.height,
        timeout_s=job.timeout_base_s + job.timeout_per_second_s * span_s,
        time_range=time_range,
        label=label,
    )
    # The span the decoded frames cover, at the source rate when it is known.
    covered_s = decoded / info.fps if info.fps > 0 else span_s
    return pixels, {
        **_span_metadata("auto_scale", start_s, start_s + covered_s),
        "source_frames": str(decoded),
        "time_scale": f"{covered_s / (job.frames / job.frame_rate):.6g}",
    }


def _write_sample(
    bundle_path: Path, sample_id: str, sample: MediaSample, pixels: np.ndarray, frame_rate: int, source: dict[str, str]
) -> BundleWritten:
    bundle = SampleBundle(
        sample_id=sample_id,
        frames=pixels,
        fps=float(frame_rate),
        caption=sample.caption,
        source_path=sample.sample_id,
        source=source,
    )
    written = write_bundle(bundle_path, bundle)
    return BundleWritten(
        sample_id=bundle.sample_id,
        path=written.path,
        uri=written.uri,
        sha256=written.sha256,
        size_bytes=written.size_bytes,
        frames=bundle.num_frames,
        height=bundle.height,
        width=bundle.width,
        fps=bundle.fps,
        caption=bundle.caption,
        source_path=bundle.source_path,
    )


def _plan_shots(job: SampleJob, info: MediaInfo) -> ShotPlan | None:
    """Cut a long clip into shots; None when splitting is off, the clip is short, or it has no cut."""
    if job.split_threshold_s is None or info.duration_s <= job.split_threshold_s:
        return None
    timeout = job.timeout_base_s + job.timeout_per_second_s * info.duration_s
    shots = detect_shots(job.sample.path, info, timeout_s=timeout)
    if len(shots) < 2:
        return None
    cuts_s = tuple(shot.start_s for shot in shots[1:])
    return ShotPlan(
        sample_id=job.sample.sample_id,
        shots=[
            ShotJob(clip=job, info=info, number=number, shot=shot, cuts_s=cuts_s)
            for number, shot in enumerate(shots, start=1)
        ],
    )


def process_sample(job: SampleJob) -> BundleWritten | Skipped | ShotPlan:
    """Probe one sample, then fit and write it, or cut it into shots for process_shot (runs in a worker process)."""
    sample = job.sample
    extra: dict[str, str] = {}
    try:
        info = probe(sample.path)
        if sample.kind == "video":
            plan = _plan_shots(job, info)
            if plan is not None:
                return plan
        if sample.kind == "video" and job.auto_scale:
            pixels, extra = _auto_scale(
                job, info, source_frames=info.frame_count, start_s=0.0, time_range=None, label="the clip"
            )
        elif sample.kind == "video":
            extra = _span_metadata("first_frames", 0.0, job.frames / job.frame_rate)
            timeout = decode_timeout_s(
                info,
                frames=job.frames,
                frame_rate=job.frame_rate,
                base_s=job.timeout_base_s,
                per_second_s=job.timeout_per_second_s,
            )
            pixels = fit_video(
                sample.path,
                info,
                frames=job.frames,
                frame_rate=job.frame_rate,
                width=job.width,
                height=job.height,
                timeout_s=timeout,
            )
        else:
            pixels = fit_image(sample.path, width=job.width, height=job.height, timeout_s=job.timeout_base_s)
    except UnusableMediaError as exc:
        return Skipped(path=sample.sample_id, reason=exc.reason.value, message=exc.message)
    source = {**info.as_source_metadata(), **extra}
    return _write_sample(job.bundle_path, sample.sample_id, sample, pixels, job.frame_rate, source)


def process_shot(job: ShotJob) -> BundleWritten | Skipped:
    """Fit and write one shot of a split clip (runs in a worker process)."""
    clip, shot = job.clip, job.shot
    label = f"shot {job.number} of {len(job.cuts_s) + 1}"
    source = {
        **job.info.as_source_metadata(),
        "shot_start_s": f"{shot.start_s:.6g}",
        "shot_end_s": f"{shot.end_s:.6g}",
        "cuts_s": ",".join(f"{cut:.6g}" for cut in job.cuts_s),
    }
    try:
        if clip.auto_scale:
            pixels, extra = _auto_scale(
                clip,
                job.info,
                source_frames=shot.end_frame - shot.start_frame,
                start_s=shot.start_s,
                time_range=shot_time_range(shot),
                label=label,
            )
            source |= extra
        else:
            source |= _span_metadata("first_frames", shot.start_s, shot.start_s + clip.frames / clip.frame_rate)
            pixels = fit_shot(
                clip.sample.path,
                shot,
                label=label,
                frames=clip.frames,
                frame_rate=clip.frame_rate,
                width=clip.width,
                height=clip.height,
                timeout_s=clip.timeout_base_s
                + clip.timeout_per_second_s * min(shot.end_s - shot.start_s, clip.frames / clip.frame_rate),
            )
    except UnusableMediaError as exc:
        return Skipped(path=job.sample_id, reason=exc.reason.value, message=exc.message)
    bundle_path = clip.bundle_path.parent / bundle_file_name(job.sample_id)
    return _write_sample(bundle_path, job.sample_id, clip.sample, pixels, clip.frame_rate, source)
