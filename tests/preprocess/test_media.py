"""Probing and fitting real ffmpeg-made media: frame count, bucket size, centre crop, fps conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from preprocess_svc.errors import SkipReason, UnusableMediaError
from preprocess_svc.media import fit_image, fit_video, probe
from shared.demo_dataset import render_clip, render_image
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
# A 320x180 (16:9) clip in three vertical bands: red [0,100), green [100,220), blue [220,320).
BANDS = (
    "color=c=red:s=100x180:r=24[a];color=c=lime:s=120x180:r=24[b];color=c=blue:s=100x180:r=24[c];"
    "[a][b][c]hstack=inputs=3[out0]"
)


def close_to(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= 12)


def fit(path: Path, frames: int = 17, frame_rate: int = 24, size: int = 64) -> np.ndarray:
    """fit_video's frames, as the worker's sink receives them, stacked."""
    out: list[np.ndarray] = []
    fit_video(
        path,
        probe(path),
        sink=lambda frame: out.append(frame.copy()),
        frames=frames,
        frame_rate=frame_rate,
        width=size,
        height=size,
        timeout_s=60,
    )
    return np.stack(out)


def test_probe_reports_the_source_facts(tmp_path: Path) -> None:
    clip = render_clip(tmp_path / "c.mp4", "testsrc2=s=96x64:r=30", frames=45, fps=30, tone_hz=440)

    info = probe(clip)

    assert (info.width, info.height, info.fps, info.codec) == (96, 64, 30.0, "h264")
    assert info.frame_count == 45
    assert info.duration_s == pytest.approx(1.5, abs=0.05)
    assert info.has_audio
    assert info.as_source_metadata()["has_audio"] == "true"


def test_clip_is_fitted_to_exactly_n_frames_of_the_bucket_size(tmp_path: Path) -> None:
    clip = render_clip(tmp_path / "c.mp4", "testsrc2=s=96x64:r=24", frames=30, fps=24)

    pixels = fit(clip, frames=17, size=32)

    assert pixels.shape == (17, 32, 32, 3)
    assert pixels.dtype == np.uint8
    assert not np.array_equal(pixels[0], pixels[-1])  # real motion, not one frame repeated


def test_wide_clip_fills_the_bucket_and_keeps_its_centre(tmp_path: Path) -> None:
    clip = render_clip(tmp_path / "bands.mp4", BANDS, frames=20, fps=24)

    frame = fit(clip)[0]

    # Scaled to 114x64 then cropped to the middle 64 columns: source x 70..250 ->
    # red for the first ~11 columns, green in the middle, blue for the last ~11.
    assert close_to(frame[32, 3], RED)
    assert close_to(frame[32, 32], GREEN)
    assert close_to(frame[32, 60], BLUE)
    assert all(close_to(frame[row, 32], GREEN) for row in (0, 63))  # full height kept


def test_rotated_clip_is_fitted_upright(tmp_path: Path) -> None:
    bands = render_clip(tmp_path / "bands.mp4", BANDS, frames=20, fps=24)
    rotated = tmp_path / "rotated.mp4"
    run_ffmpeg(
        [ffmpeg_exe(), "-loglevel", "error", "-display_rotation", "90", "-i", str(bands), "-c", "copy", str(rotated)],
        timeout=60,
    )

    assert probe(rotated).rotation == 90
    frame = fit(rotated)[0]

    # Displayed 180x320: the bands now run top to bottom; the centre crop keeps the green middle.
    assert close_to(frame[3, 32], BLUE)
    assert close_to(frame[32, 32], GREEN)
    assert close_to(frame[60, 32], RED)


def test_30fps_clip_is_resampled_to_24fps_on_the_right_source_frames(tmp_path: Path) -> None:
    # Frame n of the source has every channel = 4 * n (lossless ffv1, so the value is the index).
    source = "color=c=black:s=32x32:r=30,format=rgb24,geq=r='4*N':g='4*N':b='4*N'"
    clip = render_clip(tmp_path / "ramp.mkv", source, frames=45, fps=30, video_codec="ffv1")

    pixels = fit(clip, frames=33, frame_rate=24, size=32)

    shown = pixels[:, 16, 16, 0].astype(float) / 4  # index of the source frame behind each output frame
    times = np.arange(33) / 24
    assert np.all(np.abs(shown / 30 - times) <= 0.5 / 30 + 1e-9)  # the nearest source frame in time
    assert shown[-1] == 40  # 32 / 24 s = 1.333 s = source frame 40: frames were dropped, not copied


def test_clip_shorter_than_n_frames_after_fps_conversion_is_too_short(tmp_path: Path) -> None:
    # 20 frames at 30 fps = 0.67 s = 16 frames at 24 fps, one short of 17.
    clip = render_clip(tmp_path / "short.mp4", "testsrc2=s=64x64:r=30", frames=20, fps=30)

    with pytest.raises(UnusableMediaError) as info:
        fit(clip, frames=17, frame_rate=24)

    assert info.value.reason == SkipReason.TOO_SHORT
    assert "gives 16 frames at 24 fps (0.67 s, 20 frames at 30 fps" in info.value.message
    assert "needs 17 frames (0.71 s at 24 fps)" in info.value.message


@pytest.mark.parametrize(("name", "content"), [("empty.mp4", b""), ("noise.mov", bytes(range(256)) * 64)])
def test_unreadable_file_is_undecodable(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(UnusableMediaError) as info:
        probe(path)

    assert info.value.reason == SkipReason.UNDECODABLE


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "song.mp4"
    run_ffmpeg(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "aac", str(path)], timeout=60
    )

    with pytest.raises(UnusableMediaError) as info:
        probe(path)

    assert info.value.reason == SkipReason.NO_VIDEO_STREAM
    assert "audio" in info.value.message


def test_decode_past_its_deadline_is_a_timeout(tmp_path: Path) -> None:
    clip = render_clip(tmp_path / "c.mp4", "testsrc2=s=64x64:r=24", frames=24, fps=24)

    with pytest.raises(UnusableMediaError) as info:
        fit_video(clip, probe(clip), sink=lambda f: None, frames=17, frame_rate=24, width=64, height=64, timeout_s=1e-3)

    assert info.value.reason == SkipReason.DECODE_TIMEOUT


def test_image_becomes_one_frame_filling_the_bucket(tmp_path: Path) -> None:
    image = render_image(tmp_path / "wide.png", BANDS)

    pixels = fit_image(image, width=64, height=32, timeout_s=60)

    assert pixels.shape == (1, 32, 64, 3)
    # 320x180 -> 64x36 then the middle 32 rows: all three bands survive across the width.
    assert close_to(pixels[0, 16, 2], RED)
    assert close_to(pixels[0, 16, 32], GREEN)
    assert close_to(pixels[0, 16, 62], BLUE)
