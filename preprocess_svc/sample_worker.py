"""The work one pool process does for one media file or one shot: probe, fit, write the bundle.

A video longer than the split threshold is cut into shots here and handed back as a ShotPlan; the
run (preprocess_svc.pipeline) then queues one ShotJob per shot. See the pipeline's docstring for the
fitting rules (auto_scale_input, first frames) and the sample ids, and preprocess_svc.audio for the
audio a video sample carries (prepared before its frames are written: the bundle header needs its shape).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from preprocess_svc.audio import AudioOptions, AudioOutcome, sample_audio
from preprocess_svc.errors import (
    UnusableMediaError,
)
from preprocess_svc.events import BundleWritten, SkippedFile
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
from shared.bundle import BundleWriter, WrittenBundle
from shared.dataset_report import SampleFacts, SourceFacts
from shared.disk_space import SpaceGuard
from shared.quoting import clip

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
    audio: AudioOptions | None = AudioOptions()  # None: the run prepares no audio
    space: SpaceGuard = SpaceGuard()  # checked before each bundle is written


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
    # Shots past MAX_SHOTS_PER_CLIP are not used: how many there were, and where the first one starts.
    dropped: int = 0
    dropped_from_s: float = 0.0


MAX_SHOTS_PER_CLIP = 500


def shot_sample_id(clip_sample_id: str, number: int) -> str:
    """The sample id of a clip's number-th shot (from 1), e.g. set_a/long.mp4#shot2."""
    return f"{clip_sample_id}#shot{number}"


@dataclass(frozen=True)
class Span:
    """How a sample was fitted and the part of its source it covers (seconds)."""

    fit: str  # "first_frames" | "auto_scale" | "image"
    start_s: float
    end_s: float
    time_scale: float = 1.0
    source_frames: int | None = None  # frames decoded for an auto_scale sample

    def as_metadata(self) -> dict[str, str]:
        """source.* additions for the bundle."""
        meta = {"fit": self.fit, "start_s": f"{self.start_s:.6g}", "end_s": f"{self.end_s:.6g}"}
        if self.source_frames is not None:
            meta |= {"source_frames": str(self.source_frames), "time_scale": f"{self.time_scale:.6g}"}
        return meta


def source_facts(info: MediaInfo, *, still: bool = False) -> SourceFacts:
    """The report's view of a probed file: display size with rotation and pixel aspect applied.

    A still image has no frame rate or duration (the demuxer's nominal 25 fps would only mislead).
    """
    width = max(round(info.width * info.sample_aspect), 1)
    height = info.height
    if info.rotation % 180:
        width, height = height, width
    return SourceFacts(
        width=width,
        height=height,
        coded_width=info.width,
        coded_height=info.height,
        fps=0.0 if still else info.fps,
        duration_s=0.0 if still else info.duration_s,
        frames=1 if still else info.frame_count,
        codec=info.codec,
        rotation=info.rotation,
        has_audio=info.has_audio,
    )


def _auto_scale(
    job: SampleJob, info: MediaInfo, *, source_frames: int, start_s: float, time_range: TimeRange | None, label: str
) -> tuple[np.ndarray, Span]:
    """Resample all of a clip, or of its time range, to job.frames frames: (pixels, the span it covers)."""
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
    time_scale = covered_s / (job.frames / job.frame_rate)
    return pixels, Span("auto_scale", start_s, start_s + covered_s, time_scale=time_scale, source_frames=decoded)


@dataclass(frozen=True)
class _Output:
    """One sample's bundle: where it goes and what it says about where it came from."""

    path: Path
    sample_id: str
    sample: MediaSample  # the media file (a shot's clip)
    frames: int
    height: int
    width: int
    frame_rate: int
    info: MediaInfo
    span: Span
    extra: dict[str, str]  # more source.* facts (a shot's place in its clip)
    audio: AudioOutcome

    def _audio_metadata(self) -> dict[str, str]:
        if self.audio.audio is not None:
            return {"audio_fit": self.audio.audio.fit, "audio_gain": f"{self.audio.audio.gain:.6g}"}
        return {"audio_error": self.audio.problem} if self.audio.problem else {}

    def writer(self) -> BundleWriter:
        return BundleWriter(
            self.path,
            sample_id=self.sample_id,
            caption=self.sample.caption,
            fps=float(self.frame_rate),
            source_path=self.sample.sample_id,
            source={
                **self.info.as_source_metadata(),
                **self.extra,
                **self.span.as_metadata(),
                **self._audio_metadata(),
            },
            frames=self.frames,
            height=self.height,
            width=self.width,
            audio=None if self.audio.audio is None else self.audio.audio.samples,
        )

    def write(self, pixels: np.ndarray) -> BundleWritten:
        """Write a sample that is already in memory."""
        with self.writer() as writer:
            for frame in pixels:
                writer.add_frame(frame)
            return self.event(writer.finish())

    def event(self, written: WrittenBundle) -> BundleWritten:
        audio = self.audio.audio
        return BundleWritten(
            sample_id=self.sample_id,
            path=written.path,
            uri=written.uri,
            sha256=written.sha256,
            size_bytes=written.size_bytes,
            frames=self.frames,
            height=self.height,
            width=self.width,
            fps=float(self.frame_rate),
            caption=self.sample.caption,
            source_path=self.sample.sample_id,
            source=source_facts(self.info, still=self.span.fit == "image"),
            facts=SampleFacts(
                sample_id=self.sample_id,
                frames=self.frames,
                fps=float(self.frame_rate),
                width=self.width,
                height=self.height,
                fit=self.span.fit,
                start_s=self.span.start_s,
                end_s=self.span.end_s,
                time_scale=self.span.time_scale,
                audio_fit="" if audio is None else audio.fit,
                audio_gain=1.0 if audio is None else audio.gain,
            ),
            has_audio=audio is not None,
            audio_problem=shown(self.audio.problem, self.sample),
        )


def shown(message: str, sample: MediaSample) -> str:
    """A message about `sample` as its caller may see it: the service's own path of the extracted file
    (which ffmpeg's errors quote) replaced by the file's path in the archive, and at most ~500 characters."""
    return clip(message.replace(str(sample.path), sample.sample_id), 500)


def _output(job: SampleJob, path: Path, sample_id: str, info: MediaInfo, span: Span, **extra: str) -> _Output:
    """Where a sample goes and what it carries; a video sample's audio is prepared here, before any frame is written."""
    job.space.check(path.parent, (1 if span.fit == "image" else job.frames) * job.width * job.height * 3)
    if span.fit == "image":
        frames, audio = 1, AudioOutcome()
    else:
        frames = job.frames
        audio = sample_audio(
            job.sample.path,
            options=job.audio,
            has_track=info.has_audio,
            sample_fit=span.fit,
            start_s=span.start_s,
            end_s=span.end_s,
            target_s=job.frames / job.frame_rate,
            timeout_s=job.timeout_base_s + job.timeout_per_second_s * (span.end_s - span.start_s),
            label=sample_id,
        )
    return _Output(
        path, sample_id, job.sample, frames, job.height, job.width, job.frame_rate, info, span, dict(extra), audio
    )


def _plan_shots(job: SampleJob, info: MediaInfo) -> ShotPlan | None:
    """Cut a long clip into shots; None when splitting is off, the clip is short, or it has no cut.

    At most MAX_SHOTS_PER_CLIP shots are used (the plan says how many more there were): a clip's report,
    which lists every shot, stays far below what one message may hold."""
    if job.split_threshold_s is None or info.duration_s <= job.split_threshold_s:
        return None
    timeout = job.timeout_base_s + job.timeout_per_second_s * info.duration_s
    shots = detect_shots(job.sample.path, info, timeout_s=timeout)
    if len(shots) < 2:
        return None
    used = shots[:MAX_SHOTS_PER_CLIP]
    cuts_s = tuple(shot.start_s for shot in used[1:])
    return ShotPlan(
        sample_id=job.sample.sample_id,
        shots=[
            ShotJob(clip=job, info=info, number=number, shot=shot, cuts_s=cuts_s)
            for number, shot in enumerate(used, start=1)
        ],
        dropped=len(shots) - len(used),
        dropped_from_s=shots[len(used)].start_s if len(shots) > len(used) else 0.0,
    )


def process_sample(job: SampleJob) -> BundleWritten | SkippedFile | ShotPlan:
    """Probe one sample, then fit and write it, or cut it into shots for process_shot (runs in a worker process).

    A video's first frames go from ffmpeg straight into the bundle file, frame by frame; a resampled
    clip (auto_scale_input) or an image is fitted in memory first.
    """
    sample = job.sample
    info: MediaInfo | None = None
    try:
        info = probe(sample.path)
        if sample.kind == "image":
            pixels = fit_image(sample.path, width=job.width, height=job.height, timeout_s=job.timeout_base_s)
            return _output(job, job.bundle_path, sample.sample_id, info, Span("image", 0.0, 0.0)).write(pixels)
        plan = _plan_shots(job, info)
        if plan is not None:
            return plan
        if job.auto_scale:
            pixels, span = _auto_scale(
                job, info, source_frames=info.frame_count, start_s=0.0, time_range=None, label="the clip"
            )
            return _output(job, job.bundle_path, sample.sample_id, info, span).write(pixels)
        span = Span("first_frames", 0.0, job.frames / job.frame_rate)
        out = _output(job, job.bundle_path, sample.sample_id, info, span)
        timeout = decode_timeout_s(
            info,
            frames=job.frames,
            frame_rate=job.frame_rate,
            base_s=job.timeout_base_s,
            per_second_s=job.timeout_per_second_s,
        )
        with out.writer() as writer:
            fit_video(
                sample.path,
                info,
                sink=writer.add_frame,
                frames=job.frames,
                frame_rate=job.frame_rate,
                width=job.width,
                height=job.height,
                timeout_s=timeout,
            )
            return out.event(writer.finish())
    except UnusableMediaError as exc:
        facts = source_facts(info, still=sample.kind == "image") if info is not None else None
        return SkippedFile(
            path=sample.sample_id, reason=exc.reason.value, message=shown(exc.message, sample), source=facts
        )


def process_shot(job: ShotJob) -> BundleWritten | SkippedFile:
    """Fit and write one shot of a split clip (runs in a worker process)."""
    clip, shot = job.clip, job.shot
    label = f"shot {job.number} of {len(job.cuts_s) + 1}"
    path = clip.bundle_path.parent / bundle_file_name(job.sample_id)
    place = {
        "shot_start_s": f"{shot.start_s:.6g}",
        "shot_end_s": f"{shot.end_s:.6g}",
        "cuts_s": ",".join(f"{cut:.6g}" for cut in job.cuts_s),
    }
    try:
        if clip.auto_scale:
            pixels, span = _auto_scale(
                clip,
                job.info,
                source_frames=shot.end_frame - shot.start_frame,
                start_s=shot.start_s,
                time_range=shot_time_range(shot),
                label=label,
            )
            return _output(clip, path, job.sample_id, job.info, span, **place).write(pixels)
        span = Span("first_frames", shot.start_s, shot.start_s + clip.frames / clip.frame_rate)
        out = _output(clip, path, job.sample_id, job.info, span, **place)
        with out.writer() as writer:
            fit_shot(
                clip.sample.path,
                shot,
                sink=writer.add_frame,
                label=label,
                frames=clip.frames,
                frame_rate=clip.frame_rate,
                width=clip.width,
                height=clip.height,
                timeout_s=clip.timeout_base_s
                + clip.timeout_per_second_s * min(shot.end_s - shot.start_s, clip.frames / clip.frame_rate),
            )
            return out.event(writer.finish())
    except UnusableMediaError as exc:
        message = shown(exc.message, job.clip.sample)
        return SkippedFile(path=job.sample_id, reason=exc.reason.value, message=message, source=source_facts(job.info))
