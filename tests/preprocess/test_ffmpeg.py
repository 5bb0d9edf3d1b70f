"""Locating and running the ffmpeg binary: override, readable failures, deadlines."""

from __future__ import annotations

import time
from pathlib import Path

import imageio_ffmpeg
import pytest

from shared.ffmpeg import FFMPEG_ENV, FfmpegError, ffmpeg_exe, run_ffmpeg, stream_ffmpeg


def test_env_var_overrides_the_bundled_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "my-ffmpeg"
    copy.symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv(FFMPEG_ENV, str(copy))

    assert ffmpeg_exe() == str(copy)
    run_ffmpeg([ffmpeg_exe(), "-loglevel", "error", "-version"], timeout=30)


def test_env_var_naming_a_missing_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FFMPEG_ENV, "/nowhere/ffmpeg")

    with pytest.raises(FfmpegError, match="LTX_FFMPEG='/nowhere/ffmpeg' is not a file"):
        ffmpeg_exe()


def test_failure_carries_the_tail_of_ffmpeg_stderr(tmp_path: Path) -> None:
    with pytest.raises(FfmpegError) as info:
        run_ffmpeg([ffmpeg_exe(), "-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"], timeout=30)

    assert "No such file or directory" in info.value.stderr_tail
    assert "missing.mp4" in str(info.value)


def test_stream_yields_whole_chunks_and_stops_with_the_output(tmp_path: Path) -> None:
    argv = [ffmpeg_exe(), "-f", "lavfi", "-i", "testsrc2=s=16x8:r=10", "-frames:v", "3"]
    argv += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]

    chunks = list(stream_ffmpeg(argv, chunk_bytes=16 * 8 * 3, timeout=30))

    assert [len(c) for c in chunks] == [384, 384, 384]


def test_stream_past_its_deadline_is_killed_and_reported() -> None:
    endless = [ffmpeg_exe(), "-re", "-f", "lavfi", "-i", "testsrc2=s=16x8:r=10", "-f", "rawvideo", "pipe:"]
    started = time.monotonic()

    with pytest.raises(FfmpegError) as info:
        for _ in stream_ffmpeg(endless, chunk_bytes=16 * 8 * 3, timeout=0.5):
            pass

    assert info.value.timed_out
    assert "timed out after" in str(info.value)
    assert time.monotonic() - started < 5
