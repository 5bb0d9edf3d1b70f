"""Probing media files with PyAV and fitting them to the bucket with the ffmpeg binary.

Fitting = resample to the target frame rate (fps filter), resize to FILL the bucket keeping the
aspect ratio, centre-crop to the exact bucket, square pixels, RGB24 out of a pipe. Only the frames a
sample needs are read: ffmpeg stops after them (-frames:v). With auto_scale_input the whole clip is
instead resampled in time to exactly the sample's frame count (fit_resampled). A file that cannot
give a sample raises UnusableMediaError with a reason code and the figures behind it; it never crashes the run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import ffmpeg
import numpy as np

from preprocess_svc.errors import SkipReason, UnusableMediaError
from shared.ffmpeg import FfmpegError, ffmpeg_exe, stream_ffmpeg_into


@dataclass(frozen=True)
class MediaInfo:
    width: int  # coded size, before rotation
    height: int
    fps: float  # average frame rate of the source (0.0 if unknown)
    duration_s: float
    frame_count: int  # from the container when it says, else estimated from duration and fps
    codec: str
    rotation: int  # degrees of the display matrix; ffmpeg applies it when fitting
    has_audio: bool
    sample_aspect: float = 1.0  # pixel aspect ratio (SAR); display width = width * sample_aspect

    def as_source_metadata(self) -> dict[str, str]:
        """Facts about the original file, stored in the bundle as source.*."""
        return {
            "width": str(self.width),
            "height": str(self.height),
            "fps": f"{self.fps:.6g}",
            "duration_s": f"{self.duration_s:.6g}",
            "frame_count": str(self.frame_count),
            "codec": self.codec,
            "rotation": str(self.rotation),
            "has_audio": "true" if self.has_audio else "false",
        }


def probe(path: Path) -> MediaInfo:
    """Read a media file's facts and decode its first frame, or raise UnusableMediaError."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnusableMediaError(SkipReason.UNDECODABLE, f"the file cannot be read: {exc}") from exc
    if size == 0:
        # Said plainly: libav's "Invalid data found when processing input" does not tell people why.
        raise UnusableMediaError(SkipReason.UNDECODABLE, "the file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UnusableMediaError(
            SkipReason.UNDECODABLE,
            f"not a readable video or image file (unknown format, damaged or truncated, {size} bytes): {exc}",
        ) from exc
    with container:
        if not container.streams.video:
            kinds: list[str] = sorted({s.type for s in container.streams}) or ["none"]
            raise UnusableMediaError(
                SkipReason.NO_VIDEO_STREAM, f"the file has no video stream (streams found: {', '.join(kinds)})"
            )
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        frame_count = stream.frames or round(duration * fps)
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise UnusableMediaError(SkipReason.UNDECODABLE, f"the video stream cannot be decoded: {exc}") from exc
        if first is None:
            raise UnusableMediaError(SkipReason.UNDECODABLE, "the video stream holds no decodable frame")
        return MediaInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=fps,
            duration_s=duration,
            frame_count=max(frame_count, 1),
            codec=stream.codec_context.name,
            rotation=int(first.rotation),
            has_audio=bool(container.streams.audio),
            sample_aspect=float(stream.sample_aspect_ratio or 1),
        )


@dataclass(frozen=True)
class TimeRange:
    """A part of a clip to read: from `start_s` for `duration_s` seconds (input seek, accurate)."""

    start_s: float
    duration_s: float


def _fitted_frames(
    path: Path,
    *,
    into: Iterable[np.ndarray],
    frames: int | None,
    frame_rate: int | None,
    width: int,
    height: int,
    timeout_s: float,
    time_range: TimeRange | None,
    label: str,
) -> Iterator[int]:
    """Stream ffmpeg's fit chain (at most `frames` frames; None: all) straight into the arrays of `into`.

    Each frame is read into the next uint8 [H, W, 3] C-contiguous array taken from `into`, with no copy
    on our side, and its index (from 0) is yielded once it is there, before the next array is taken.
    Without a frame rate every decoded frame comes out once (no fps conversion, no duplicates).
    """
    if time_range is None:
        video = ffmpeg.input(str(path))["v:0"]
    else:
        source = ffmpeg.input(str(path), ss=f"{time_range.start_s:.6f}", t=f"{time_range.duration_s:.6f}")
        video = source["v:0"].filter("setpts", "PTS-STARTPTS")
    if frame_rate is not None:
        video = video.filter("fps", fps=frame_rate)
    # Fill the bucket on the DISPLAY size (storage width x sample aspect ratio), not the storage size:
    # scale's force_original_aspect_ratio works on the stored pixels, so an anamorphic clip (e.g. 320x240
    # with SAR 4:3, shown 16:9) was cropped as if 4:3 and then squashed by setsar=1. `dar` is
    # iw / ih * sar (sar counts as 1 when the file does not set one); one scale pass, then centre crop.
    video = (
        video.filter("scale", f"max({width},round({height}*dar))", f"max({height},round({width}/dar))")
        .filter("crop", width, height)
        .filter("setsar", 1)
    )
    limit = {} if frames is None else {"frames:v": frames}
    argv = (
        video.output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough", **limit)
        .global_args("-hide_banner", "-nostats", "-loglevel", "error")
        .compile(cmd=ffmpeg_exe())
    )
    buffers = (frame.data.cast("B") for frame in into)
    try:
        for index, _ in enumerate(stream_ffmpeg_into(argv, buffers, timeout=timeout_s)):
            yield index
    except FfmpegError as exc:
        reason = SkipReason.DECODE_TIMEOUT if exc.timed_out else SkipReason.UNDECODABLE
        raise UnusableMediaError(reason, f"ffmpeg could not fit {label} to {width}x{height}: {exc}") from exc


FrameSink = Callable[[np.ndarray], None]


def stream_frames(
    path: Path,
    *,
    sink: FrameSink,
    frames: int,
    frame_rate: int | None,
    width: int,
    height: int,
    timeout_s: float,
    time_range: TimeRange | None = None,
    label: str = "the file",
) -> int:
    """Run ffmpeg's fit chain and hand each frame (uint8 [H, W, 3]) to `sink` as it comes; return the count.

    Every frame is read into the same buffer, so the sink must use or copy it before it returns: a
    sample is never held whole here (the worker's sink writes it straight into the bundle file).
    """
    buffer = np.empty((height, width, 3), dtype=np.uint8)
    count = 0
    stream = _fitted_frames(
        path,
        into=itertools.repeat(buffer),
        frames=frames,
        frame_rate=frame_rate,
        width=width,
        height=height,
        timeout_s=timeout_s,
        time_range=time_range,
        label=label,
    )
    for _ in stream:
        sink(buffer)
        count += 1
    return count


def fit_frames(
    path: Path,
    *,
    frames: int,
    frame_rate: int | None,
    width: int,
    height: int,
    timeout_s: float,
    time_range: TimeRange | None = None,
    label: str = "the file",
) -> tuple[np.ndarray, int]:
    """stream_frames into memory: (uint8 [frames, H, W, 3], number of frames actually read).

    With a time range the input is seeked accurately (ffmpeg decodes from the keyframe before and drops
    what precedes the seek point) and its timestamps restart at 0, so the fps conversion starts on the
    range's first frame. `label` names what is fitted in error messages.
    """
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    slots = iter(out)

    def keep(frame: np.ndarray) -> None:
        next(slots)[...] = frame

    count = stream_frames(
        path,
        sink=keep,
        frames=frames,
        frame_rate=frame_rate,
        width=width,
        height=height,
        timeout_s=timeout_s,
        time_range=time_range,
        label=label,
    )
    return out, count


def _pick(source_frames: int, frames: int) -> list[int]:
    """Source frame index for each of `frames` output frames, evenly spread, first and last included."""
    if frames == 1:
        return [0]
    return [round(k * (source_frames - 1) / (frames - 1)) for k in range(frames)]


def _resample_pass(
    path: Path, picks: list[int], *, width: int, height: int, timeout_s: float, time_range: TimeRange | None, label: str
) -> tuple[np.ndarray, int]:
    """Keep the picked source frames (a frame picked twice is copied twice); return them and the frames decoded."""
    out = np.empty((len(picks), height, width, 3), dtype=np.uint8)
    scratch = np.empty((height, width, 3), dtype=np.uint8)  # where a frame nobody picked is read
    slots_of: dict[int, list[int]] = {}
    for slot, source in enumerate(picks):
        slots_of.setdefault(source, []).append(slot)
    # Source frame n is read straight into its first slot; later slots of the same frame copy it.
    targets = (out[slots_of[n][0]] if n in slots_of else scratch for n in itertools.count())
    decoded = 0
    stream = _fitted_frames(
        path,
        into=targets,
        frames=None,
        frame_rate=None,
        width=width,
        height=height,
        timeout_s=timeout_s,
        time_range=time_range,
        label=label,
    )
    for index in stream:
        slots = slots_of.get(index, [])
        if len(slots) > 1:
            out[slots[1:]] = out[slots[0]]
        decoded = index + 1
    if decoded == 0:
        raise UnusableMediaError(SkipReason.UNDECODABLE, f"ffmpeg decoded no frame from {label}")
    return out, decoded


def fit_resampled(
    path: Path,
    *,
    source_frames: int,
    frames: int,
    width: int,
    height: int,
    timeout_s: float,
    time_range: TimeRange | None = None,
    label: str = "the clip",
) -> tuple[np.ndarray, int]:
    """All of a clip (or of a time range) resampled in time to exactly `frames` frames, fitted to the bucket.

    Output frame k is source frame round(k * (M - 1) / (frames - 1)) of the M decoded frames: evenly
    spread, the first and last source frames included, frames repeated when M < frames and skipped
    when M > frames. Picking decoded frames by index (rather than stretching timestamps for ffmpeg's
    fps filter, whose rounding at the clip's ends can lose or add a frame) makes the count exact.
    `source_frames` is the expected M (from the container or the shot analysis); ffmpeg streams every
    frame once and only the picked ones are kept, so memory stays at `frames` frames. When the decode
    counts a different M, a second pass picks again with the true count. Returns (pixels, M).
    """

    def resample(count: int) -> tuple[np.ndarray, int]:
        picks = _pick(count, frames)
        return _resample_pass(
            path, picks, width=width, height=height, timeout_s=timeout_s, time_range=time_range, label=label
        )

    pixels, decoded = resample(source_frames)
    if decoded != source_frames:
        pixels, decoded = resample(decoded)
    return pixels, decoded


def decode_timeout_s(info: MediaInfo, *, frames: int, frame_rate: int, base_s: float, per_second_s: float) -> float:
    """Deadline for fitting a clip: a base plus a share per second of source ffmpeg has to read."""
    needed = frames / frame_rate
    seconds = min(info.duration_s, needed) if info.duration_s > 0 else needed
    return base_s + per_second_s * seconds


def fit_video(
    path: Path,
    info: MediaInfo,
    *,
    sink: FrameSink,
    frames: int,
    frame_rate: int,
    width: int,
    height: int,
    timeout_s: float,
) -> None:
    """The first `frames` frames of a clip at frame_rate, fitted to width x height, one by one to `sink`.

    Raises TOO_SHORT (or UNDECODABLE for a truncated file) after the frames there were, so a sink
    writing a bundle must be abandoned then.
    """
    count = stream_frames(
        path, sink=sink, frames=frames, frame_rate=frame_rate, width=width, height=height, timeout_s=timeout_s
    )
    needed_s = frames / frame_rate
    if count < frames and info.duration_s >= 1.25 * needed_s + 0.1:
        # The header promises clearly more than a sample needs, yet the frames ran out: the file is cut
        # short (an interrupted upload or copy, with its index written first) or its data is damaged.
        # Not TOO_SHORT: that reason says the clip itself is short, and can end the run as such.
        raise UnusableMediaError(
            SkipReason.UNDECODABLE,
            f"the file ends early, probably truncated or damaged: its header promises {info.duration_s:.2f} s "
            f"({info.frame_count} frames at {info.fps:.3g} fps) but ffmpeg decoded only {count} frames at "
            f"{frame_rate} fps; a sample needs {frames} frames ({needed_s:.2f} s)",
        )
    if count < frames:
        raise UnusableMediaError(
            SkipReason.TOO_SHORT,
            f"the clip gives {count} frames at {frame_rate} fps ({info.duration_s:.2f} s, {info.frame_count} "
            f"frames at {info.fps:.3g} fps in the source); a sample needs {frames} frames "
            f"({frames / frame_rate:.2f} s at {frame_rate} fps)",
        )


def fit_image(path: Path, *, width: int, height: int, timeout_s: float) -> np.ndarray:
    """An image fitted to width x height as a single frame: uint8 [1, H, W, 3]."""
    pixels, count = fit_frames(path, frames=1, frame_rate=None, width=width, height=height, timeout_s=timeout_s)
    if count < 1:
        raise UnusableMediaError(SkipReason.UNDECODABLE, "ffmpeg produced no frame from the image")
    return pixels
