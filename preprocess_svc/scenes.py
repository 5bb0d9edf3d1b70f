"""Cutting a long clip into shots with PySceneDetect, and fitting one shot to the bucket.

Detector: AdaptiveDetector. It scores each frame with ContentDetector's HSV difference to the
previous frame, but cuts only where that score stands out against the frames around it
(ratio >= ADAPTIVE_RATIO to the mean of WINDOW frames either side) AND is large in absolute terms
(>= MIN_CONTENT_VAL). A hard cut is a one-frame spike, so it passes both tests; a fast pan, a zoom
or a flickering light raises the score over many frames in a row, which a fixed ContentDetector
threshold would read as a burst of cuts but the adaptive ratio ignores. Training clips are full of
camera motion and we only need hard cuts (a fade or dissolve left inside a shot costs little),
so the adaptive detector is the better trade. MIN_SHOT_S (0.5 s) stops flashes and strobes from
making slivers of shots; shots that are real but shorter than a sample are not merged into their
neighbours (a sample must not span a cut): the pipeline skips them as TOO_SHORT.

Decode: the ffmpeg binary decodes the clip once, scales it down to DETECT_WIDTH pixels wide in
its own (threaded, native) filter graph and pipes BGR24 rawvideo, which is fed to the detector one
frame at a time. Only one small frame is ever held, whatever the clip's length or size. This beats
PySceneDetect's own `downscale` option, which has PyAV hand every frame to Python at full
resolution (6 MB per 1080p frame) and shrinks it afterwards with OpenCV. The analysis runs on a
constant-rate grid at the source's average frame rate, so frame n is at n / rate seconds.

Fitting a shot seeks accurately to just before its first frame and reads no further than its end:
the shot's first frame is the sample's first frame, and nothing of the next shot gets in.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np
from scenedetect import AdaptiveDetector, FrameTimecode

from preprocess_svc.errors import SkipReason, UnusableMediaError
from preprocess_svc.media import FrameSink, MediaInfo, TimeRange, stream_frames
from shared.ffmpeg import FfmpegError, ffmpeg_exe, stream_ffmpeg

DETECT_WIDTH = 160  # pixels; cuts are whole-frame changes, visible at any size
ADAPTIVE_RATIO = 3.0  # a cut's score over the mean score of its neighbours (PySceneDetect's default)
MIN_CONTENT_VAL = 15.0  # least HSV change (0..255) that can be a cut (PySceneDetect's default)
WINDOW = 2  # neighbours on each side the ratio is taken against
MIN_SHOT_S = 0.5  # no cut within this long of the previous one


@dataclass(frozen=True)
class Shot:
    start_s: float  # position of its first frame in the clip
    end_s: float  # position just past its last frame
    start_frame: int  # first frame, on the analysis grid (source average rate)
    end_frame: int  # one past its last frame


def _analysis_rate(info: MediaInfo) -> Fraction:
    """The source's average frame rate as a fraction (24000/1001 rather than 23.976...)."""
    return Fraction(info.fps).limit_denominator(1001)


def _analysis_size(info: MediaInfo) -> tuple[int, int]:
    """Width and height (even, at most DETECT_WIDTH wide) of the downscaled frames, after rotation."""
    width, height = (info.height, info.width) if info.rotation % 180 else (info.width, info.height)
    small_w = max(2, min(DETECT_WIDTH, width) // 2 * 2)
    small_h = max(2, round(small_w * height / width / 2) * 2)
    return small_w, small_h


def analysis_argv(path: Path, rate: Fraction, width: int, height: int) -> list[str]:
    """The ffmpeg command line that pipes the clip's first video stream as bgr24 frames of width x height,
    on a constant-rate grid at `rate`."""
    return (
        ffmpeg.input(str(path))["v:0"]
        .filter("scale", width, height, flags="area")
        .output("pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="cfr", r=str(rate))
        .global_args("-hide_banner", "-nostats", "-loglevel", "error")
        .compile(cmd=ffmpeg_exe())
    )


def detect_shots(path: Path, info: MediaInfo, *, timeout_s: float) -> list[Shot]:
    """The clip's shots in order, covering all of it (a single shot when there is no cut).

    Raises UnusableMediaError when ffmpeg cannot decode the clip or runs past timeout_s.
    """
    if info.fps <= 0:
        raise UnusableMediaError(
            SkipReason.UNDECODABLE, "the video stream states no frame rate, so its shots cannot be timed"
        )
    rate = _analysis_rate(info)
    width, height = _analysis_size(info)
    argv = analysis_argv(path, rate, width, height)
    detector = AdaptiveDetector(
        adaptive_threshold=ADAPTIVE_RATIO,
        min_scene_len=MIN_SHOT_S,
        window_width=WINDOW,
        min_content_val=MIN_CONTENT_VAL,
    )
    cuts: list[FrameTimecode] = []
    count = 0
    try:
        for chunk in stream_ffmpeg(argv, chunk_bytes=width * height * 3, timeout=timeout_s):
            frame = np.frombuffer(chunk, dtype=np.uint8).reshape(height, width, 3)
            cuts += detector.process_frame(FrameTimecode(count, fps=rate), frame)
            count += 1
    except FfmpegError as exc:
        reason = SkipReason.DECODE_TIMEOUT if exc.timed_out else SkipReason.UNDECODABLE
        raise UnusableMediaError(reason, f"ffmpeg could not decode the clip to find its shots: {exc}") from exc
    if count == 0:
        raise UnusableMediaError(SkipReason.UNDECODABLE, "ffmpeg decoded no frame from the clip")
    cuts += detector.post_process(FrameTimecode(count - 1, fps=rate))
    bounds = [0, *sorted({c.frame_num for c in cuts if 0 < c.frame_num < count}), count]
    return [
        Shot(start_s=float(start / rate), end_s=float(end / rate), start_frame=start, end_frame=end)
        for start, end in zip(bounds, bounds[1:], strict=False)
    ]


def shot_time_range(shot: Shot) -> TimeRange:
    """The part of the clip to read for a shot: from half a frame before its first frame to half a
    frame before its end, so the frames on either side of a cut fall on the right side of it."""
    frame_s = (shot.end_s - shot.start_s) / (shot.end_frame - shot.start_frame)
    seek_s = max(0.0, shot.start_s - frame_s / 2)
    return TimeRange(seek_s, shot.end_s - frame_s / 2 - seek_s)


def fit_shot(
    path: Path,
    shot: Shot,
    *,
    sink: FrameSink,
    label: str,
    frames: int,
    frame_rate: int,
    width: int,
    height: int,
    timeout_s: float,
) -> None:
    """The first `frames` frames of one shot at frame_rate, filled and centre-cropped to width x height,
    one by one to `sink`.

    The clip is read over shot_time_range(shot). label names the shot in a TOO_SHORT message.
    """
    count = stream_frames(
        path,
        sink=sink,
        frames=frames,
        frame_rate=frame_rate,
        width=width,
        height=height,
        timeout_s=timeout_s,
        time_range=shot_time_range(shot),
        label=label,
    )
    if count < frames:
        raise UnusableMediaError(
            SkipReason.TOO_SHORT,
            f"{label} ({shot.start_s:.2f}-{shot.end_s:.2f} s of the clip, {shot.end_s - shot.start_s:.2f} s) "
            f"gives {count} frames at {frame_rate} fps; a sample needs {frames} frames "
            f"({frames / frame_rate:.2f} s at {frame_rate} fps)",
        )
