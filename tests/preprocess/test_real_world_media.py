"""Real-world media made with the ffmpeg binary, through the real probe, fit and worker code.

Phone rotation, anamorphic pixels, variable frame rate, odd sizes, MPEG-4 part 2 and VP9, extra
subtitle/data streams, no video stream, empty and truncated files: each is fitted correctly or
skipped with a reason and a message naming the problem, and none hangs (every worker call is timed).
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from preprocess_svc.errors import SkipReason
from preprocess_svc.events import BundleWritten, SkippedFile
from preprocess_svc.media import fit_video, probe
from preprocess_svc.pairing import MediaSample
from preprocess_svc.sample_worker import SampleJob, bundle_file_name, process_sample, source_facts
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
FPS = 24
# Every worker call here must end well within this (the job's own decode deadline is ~12 s).
WORKER_LIMIT_S = 20.0


def ffmpeg(out: Path, *args: str) -> Path:
    """Run ffmpeg with args, writing out."""
    run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args, str(out)], timeout=60)
    return out


def lavfi(graph: str) -> list[str]:
    return ["-f", "lavfi", "-i", graph]


def bands(widths: tuple[int, int, int], height: int) -> str:
    """Three vertical bands, red | green | blue, of the given widths."""
    red, green, blue = widths
    return (
        f"color=c=red:s={red}x{height}:r={FPS}[a];color=c=lime:s={green}x{height}:r={FPS}[b];"
        f"color=c=blue:s={blue}x{height}:r={FPS}[c];[a][b][c]hstack=inputs=3"
    )


def quadrants(width: int, height: int) -> str:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: any flip or turn shows."""
    size = f"{width // 2}x{height // 2}"
    return (
        f"color=c=red:s={size}:r={FPS}[a];color=c=lime:s={size}:r={FPS}[b];"
        f"color=c=blue:s={size}:r={FPS}[c];color=c=white:s={size}:r={FPS}[d];"
        "[a][b]hstack[top];[c][d]hstack[bottom];[top][bottom]vstack"
    )


H264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
SMALL_BANDS = bands((50, 60, 50), 90)  # 160x90


def close_to(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= tolerance)


def fit(path: Path, *, frames: int = 17, width: int = 32, height: int = 32) -> np.ndarray:
    """fit_video's frames, as the worker's sink receives them, stacked."""
    out: list[np.ndarray] = []
    sink = lambda frame: out.append(frame.copy())  # noqa: E731
    fit_video(path, probe(path), sink=sink, frames=frames, frame_rate=FPS, width=width, height=height, timeout_s=30)
    return np.stack(out)


def assert_small_bands(frame: np.ndarray) -> None:
    """SMALL_BANDS fitted to 32x32: scaled to 57x32, middle 32 columns -> ~5 red, green, ~5 blue."""
    assert close_to(frame[16, 1], RED)
    assert close_to(frame[16, 16], GREEN)
    assert close_to(frame[16, 30], BLUE)


def run_worker(path: Path, *, frames: int = 17, size: int = 32) -> BundleWritten | SkippedFile:
    """process_sample, as a worker runs it, on one file; fails if it takes too long."""
    sample = MediaSample(sample_id=path.name, path=path, kind="video", caption="a clip")
    job = SampleJob(
        sample=sample,
        bundle_path=path.parent / "bundles" / bundle_file_name(path.name),
        frames=frames,
        frame_rate=FPS,
        width=size,
        height=size,
        timeout_base_s=10.0,
        timeout_per_second_s=2.0,
        # Never cut into shots: these tests are about decoding one file (scene splitting has its own).
        split_threshold_s=None,
    )
    started = time.monotonic()
    outcome = process_sample(job)
    assert time.monotonic() - started < WORKER_LIMIT_S
    return outcome


def stream_types(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [s.type for s in container.streams]


# Displayed corners (top-left, top-right, bottom-left, bottom-right) of the quadrants after the turn a
# player applies for the display matrix: ffmpeg's rotation is counter-clockwise.
UPRIGHT_CORNERS = {
    90: (GREEN, WHITE, RED, BLUE),
    180: (WHITE, BLUE, GREEN, RED),
    270: (BLUE, RED, WHITE, GREEN),
}


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_phone_clip_with_rotation_metadata_is_fitted_as_displayed(tmp_path: Path, rotation: int) -> None:
    stored = ffmpeg(tmp_path / "stored.mp4", *lavfi(quadrants(128, 96)), "-frames:v", "24", *H264)
    phone = ffmpeg(tmp_path / "phone.mp4", "-display_rotation", str(rotation), "-i", str(stored), "-c", "copy")
    # Displayed 96x128 (portrait) for a quarter turn, 128x96 for a half turn: the bucket has that aspect.
    width, height = (48, 64) if rotation in (90, 270) else (64, 48)

    info = probe(phone)
    pixels = fit(phone, width=width, height=height)

    assert (info.width, info.height) == (128, 96)  # stored size, before the turn
    assert info.rotation in (rotation, rotation - 360)
    # The dataset report gives the size a player shows.
    assert (source_facts(info).width, source_facts(info).height) == ((96, 128) if rotation != 180 else (128, 96))
    assert pixels.shape == (17, height, width, 3)
    top_left, top_right, bottom_left, bottom_right = UPRIGHT_CORNERS[rotation]
    frame = pixels[0]
    assert close_to(frame[6, 6], top_left)
    assert close_to(frame[6, width - 7], top_right)
    assert close_to(frame[height - 7, 6], bottom_left)
    assert close_to(frame[height - 7, width - 7], bottom_right)


def test_anamorphic_clip_fills_the_bucket_on_its_display_aspect(tmp_path: Path) -> None:
    # Stored 320x240 with SAR 4:3 = shown 427x240 (16:9). Bands red [0,80) green [80,240) blue [240,320)
    # stored = red [0,107) green blue [320,427) shown.
    clip = ffmpeg(
        tmp_path / "anamorphic.mp4", *lavfi(bands((80, 160, 80), 240) + ",setsar=4/3"), "-frames:v", "24", *H264
    )
    with av.open(str(clip)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(4, 3)
    facts = source_facts(probe(clip))
    assert (facts.width, facts.height, facts.coded_width, facts.coded_height) == (427, 240, 320, 240)

    frame = fit(clip, width=64, height=64)[0]

    # Display-correct: 427x240 -> 114x64, middle 64 columns = shown x 100..327 -> red only in columns
    # 0..3 and blue only in 60..63. (Filled on the stored 4:3 size instead, red would reach column 10.)
    assert close_to(frame[32, 1], RED)
    assert close_to(frame[32, 6], GREEN)
    assert close_to(frame[32, 57], GREEN)
    assert close_to(frame[32, 62], BLUE)
    assert all(close_to(frame[row, 32], GREEN) for row in (0, 63))  # full height kept: not squashed


def test_variable_frame_rate_clip_is_resampled_by_its_timestamps(tmp_path: Path) -> None:
    # A 48 fps source whose first second keeps only every 4th frame (12 fps), then all (48 fps); every
    # frame's grey level is 2 x its index at 48 fps, so a pixel tells the source time: level / 96 s.
    graph = "color=c=black:s=32x32:r=48,format=gray,geq=lum='2*N',select='gte(n,48)+not(mod(n,4))'"
    clip = ffmpeg(
        tmp_path / "vfr.mp4", *lavfi(graph), "-frames:v", "74", "-fps_mode", "vfr", "-c:v", "libx264", "-qp", "0",
        "-pix_fmt", "yuv444p",
    )  # fmt: skip
    with av.open(str(clip)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    steps = np.round(np.diff(times) * 48).astype(int)
    assert set(steps[:12]) == {4} and set(steps[12:]) == {1}  # really variable: 1/12 s then 1/48 s

    pixels = fit(clip, frames=48)

    assert pixels.shape == (48, 32, 32, 3)
    shown_s = pixels[:, 16, 16, 0].astype(float) / 96  # source time of the frame behind each output
    out_s = np.arange(48) / FPS
    # Each output frame shows the source frame on screen at its time: never a later one, and in the
    # sparse first second at most one source interval (1/12 s) old; in the dense part the exact one.
    # (1/96 s of slack: lossless H.264 of grey via YUV can be one level off.)
    slack = 1 / 96 + 1e-9
    assert np.all(shown_s <= out_s + slack)
    assert np.all(out_s - shown_s <= 1 / 12 + slack)
    assert np.all(np.abs(shown_s[24:] - out_s[24:]) <= slack)


def test_odd_sized_clip_is_fitted_to_the_exact_bucket(tmp_path: Path) -> None:
    # 4:4:4 so H.264 can store an odd size as is (4:2:0 needs even sizes).
    clip = ffmpeg(
        tmp_path / "odd.mp4",
        *lavfi(bands((107, 107, 107), 181)),
        "-frames:v", "24", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv444p",
    )  # fmt: skip

    info = probe(clip)
    pixels = fit(clip, width=64, height=32)

    assert (info.width, info.height) == (321, 181)
    assert pixels.shape == (17, 32, 64, 3)
    # 321x181 -> 64x36, the middle 32 rows: all three bands across the width.
    assert close_to(pixels[0, 16, 2], RED)
    assert close_to(pixels[0, 16, 32], GREEN)
    assert close_to(pixels[0, 16, 61], BLUE)


@pytest.mark.parametrize(
    ("name", "encoder", "codec"),
    [
        ("part2.avi", "mpeg4", "mpeg4"),
        ("part2.mp4", "mpeg4", "mpeg4"),
        ("vp9.mkv", "libvpx-vp9", "vp9"),
        ("vp9.webm", "libvpx-vp9", "vp9"),
    ],
)
def test_clip_in_another_codec_is_decoded(tmp_path: Path, name: str, encoder: str, codec: str) -> None:
    speed = ["-deadline", "realtime", "-cpu-used", "8"] if encoder == "libvpx-vp9" else ["-q:v", "3"]
    clip = ffmpeg(tmp_path / name, *lavfi(SMALL_BANDS), "-frames:v", "24", "-c:v", encoder, *speed)

    assert probe(clip).codec == codec
    assert_small_bands(fit(clip)[0])
    outcome = run_worker(clip)
    assert isinstance(outcome, BundleWritten), outcome
    assert (outcome.frames, outcome.height, outcome.width) == (17, 32, 32)


def _with_subtitles_mkv(tmp_path: Path, srt: Path) -> Path:
    # The subtitle track comes first, so "the first stream" would be the wrong one.
    return ffmpeg(
        tmp_path / "subtitled.mkv", "-i", str(srt), *lavfi(SMALL_BANDS), "-map", "0", "-map", "1",
        "-frames:v", "24", *H264, "-c:s", "ass",
    )  # fmt: skip


def _with_subtitles_mp4(tmp_path: Path, srt: Path) -> Path:
    return ffmpeg(
        tmp_path / "subtitled.mp4", "-i", str(srt), *lavfi(SMALL_BANDS), "-map", "0", "-map", "1",
        "-frames:v", "24", *H264, "-c:s", "mov_text",
    )  # fmt: skip


def _with_timecode_mov(tmp_path: Path, srt: Path) -> Path:
    # -timecode adds a tmcd data track, as cameras write.
    return ffmpeg(tmp_path / "timecode.mov", *lavfi(SMALL_BANDS), "-frames:v", "24", *H264, "-timecode", "01:00:00:00")


@pytest.mark.parametrize(
    ("make", "extra"),
    [(_with_subtitles_mkv, "subtitle"), (_with_subtitles_mp4, "subtitle"), (_with_timecode_mov, "data")],
    ids=["ass-subtitles-mkv", "mov_text-subtitles-mp4", "timecode-data-mov"],
)
def test_video_is_used_and_subtitle_or_data_streams_are_ignored(tmp_path: Path, make, extra: str) -> None:
    srt = tmp_path / "captions.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHELLO\n", encoding="utf-8")
    clip = make(tmp_path, srt)
    assert extra in stream_types(clip)

    assert_small_bands(fit(clip)[0])  # the video, with no subtitle burnt in
    outcome = run_worker(clip)
    assert isinstance(outcome, BundleWritten), outcome
    assert outcome.frames == 17


@pytest.mark.parametrize(
    ("name", "args", "found"),
    [
        ("song.mp4", ["-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "aac"], "audio"),
        ("song.mkv", ["-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "libvorbis"], "audio"),
        ("captions_only.mkv", ["-i", "{srt}", "-c:s", "ass"], "subtitle"),
    ],
)
def test_file_without_a_video_stream_is_skipped(tmp_path: Path, name: str, args: list[str], found: str) -> None:
    srt = tmp_path / "captions.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHELLO\n", encoding="utf-8")
    path = ffmpeg(tmp_path / name, *(a.format(srt=srt) for a in args))

    outcome = run_worker(path)

    assert isinstance(outcome, SkippedFile)
    assert outcome.reason == SkipReason.NO_VIDEO_STREAM.value
    assert f"no video stream (streams found: {found})" in outcome.message


def test_zero_byte_file_is_skipped_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")

    outcome = run_worker(path)

    assert isinstance(outcome, SkippedFile)
    assert outcome.reason == SkipReason.UNDECODABLE.value
    assert outcome.message == "the file is empty (0 bytes)"


@pytest.mark.parametrize(
    ("faststart", "keep", "expected"),
    [
        # moov (the index) at the end: cut off, so there is nothing to read the frames by.
        (False, 0.3, "not a readable video or image file (unknown format, damaged or truncated"),
        (False, 0.7, "not a readable video or image file (unknown format, damaged or truncated"),
        # moov first: readable, but 30% of 2 s holds fewer frames than a sample needs...
        (True, 0.3, "the file ends early, probably truncated or damaged: its header promises 2.00 s"),
        # ...while 70% still holds enough, so the clip is used.
        (True, 0.7, None),
    ],
    ids=["moov-last-30pct", "moov-last-70pct", "faststart-30pct", "faststart-70pct"],
)
def test_truncated_file_is_skipped_or_used_without_hanging(
    tmp_path: Path, faststart: bool, keep: float, expected: str | None
) -> None:
    flags = ["-movflags", "+faststart"] if faststart else []
    # Real motion, so the frames (not the index) make up most of the bytes, as in a real clip.
    source = f"testsrc2=s=160x90:r={FPS}"
    full = ffmpeg(tmp_path / "full.mp4", *lavfi(source), "-frames:v", "48", *H264, "-g", "12", *flags)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])

    outcome = run_worker(cut)

    if expected is None:
        assert isinstance(outcome, BundleWritten), outcome
        assert outcome.frames == 17
    else:
        assert isinstance(outcome, SkippedFile)
        assert outcome.reason == SkipReason.UNDECODABLE.value
        assert outcome.message.startswith(expected)


@pytest.mark.parametrize("name", ["short.mp4", "short.mkv"])
def test_short_clip_with_longer_audio_is_too_short_not_truncated(tmp_path: Path, name: str) -> None:
    # 0.5 s of video under 3 s of audio: the video's own length decides, the file is whole.
    audio = ["-c:a", "aac"] if name.endswith(".mp4") else ["-c:a", "libvorbis"]
    clip = ffmpeg(
        tmp_path / name, *lavfi(f"testsrc2=s=64x64:r={FPS}"), "-f", "lavfi", "-i", "sine=d=3",
        "-frames:v", "12", *H264, *audio,
    )  # fmt: skip

    outcome = run_worker(clip)

    assert isinstance(outcome, SkippedFile)
    assert outcome.reason == SkipReason.TOO_SHORT.value
    assert outcome.message.startswith("the clip gives 12 frames at 24 fps (0.50 s")
