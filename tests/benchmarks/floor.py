"""The floor: the very ffmpeg commands our pipeline runs, output read and dropped, with the same parallelism."""

from __future__ import annotations

import concurrent.futures
import contextlib
import inspect
import os
import subprocess
import tempfile
import time
from pathlib import Path

from preprocess_svc import media
from preprocess_svc.settings import PreprocessSettings
from shared.ffmpeg import FFMPEG_ENV, ffmpeg_exe
from tests.benchmarks.ours import run_ours
from tests.benchmarks.preconditions import Preconditions

CAPTURED = "the pipeline ran ffmpeg for every clip (its commands captured through $LTX_FFMPEG)"
FLOOR_BYTES = "the floor's ffmpeg gave every frame: bytes read = commands x frames x bucket x 3"
FULL_FLOOR_BYTES = "the full-clip floor's ffmpeg gave frames"


def pipeline_argv(clip: Path, *, frames: int, frame_rate: int, bucket: tuple[int, int]) -> list[str]:
    """The exact ffmpeg argv preprocess_svc.media.fit_frames runs for this clip (captured, not re-typed)."""
    captured: list[list[str]] = []

    def capture(argv, *_args, **_kwargs):  # type: ignore[no-untyped-def]
        captured.append(list(argv))
        return iter(())

    original = media.stream_ffmpeg_into
    media.stream_ffmpeg_into = capture  # type: ignore[assignment]
    try:
        with contextlib.suppress(media.UnusableMediaError):
            media.fit_frames(
                clip, frames=frames, frame_rate=frame_rate, width=bucket[0], height=bucket[1], timeout_s=60
            )
    finally:
        media.stream_ffmpeg_into = original  # type: ignore[assignment]
    if len(captured) != 1:
        raise SystemExit(
            "could not capture fit_frames' ffmpeg command (media.py changed?); "
            f"captured {len(captured)} commands. Signature now: {inspect.signature(media.fit_frames)}"
        )
    return captured[0]


def capture_pipeline_commands(
    settings: PreprocessSettings, storage_root: Path, clip_dir: Path, *, checks: Preconditions, expected_samples: int
) -> list[list[str]]:
    """Every ffmpeg command one run_preprocess runs, via an $LTX_FFMPEG wrapper that logs argv then execs ffmpeg.

    The spawn workers inherit the environment, so this sees what the pipeline really runs (one or
    several windows per clip, whatever media.py does today). Paths into the extracted archive are
    mapped back to the cached clip files (same bytes) so the floor can replay them later.
    """
    real = ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="ltx-bench-capture-") as tmp:
        log_dir = Path(tmp) / "log"
        log_dir.mkdir()
        wrapper = Path(tmp) / "ffmpeg"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"f=$(mktemp -p '{log_dir}' inv.XXXXXX)\n"
            'for a in "$@"; do printf \'%s\\0\' "$a"; done > "$f"\n'
            f"exec '{real}' \"$@\"\n"
        )
        wrapper.chmod(0o755)
        old = os.environ.get(FFMPEG_ENV)
        os.environ[FFMPEG_ENV] = str(wrapper)
        try:
            run_ours(settings, storage_root, checks=checks, expected_samples=expected_samples)
        finally:
            if old is None:
                del os.environ[FFMPEG_ENV]
            else:
                os.environ[FFMPEG_ENV] = old
        extracted = str(storage_root / "datasets" / settings.dataset_id / "extracted" / "clips")
        commands = []
        for f in sorted(log_dir.iterdir()):
            args = f.read_bytes().split(b"\0")[:-1]
            commands.append([real] + [a.decode().replace(extracted, str(clip_dir)) for a in args])
    checks.require(
        CAPTURED,
        len(commands) >= expected_samples and all(str(clip_dir) in " ".join(c) for c in commands),
        f"{len(commands)} ffmpeg command(s) captured for {expected_samples} clips: is $LTX_FFMPEG still honoured?",
    )
    return commands


def without_frame_limit(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("-frames:v", "-vframes"):
            skip = True
            continue
        out.append(arg)
    return out


def run_drain(argv: list[str]) -> int:
    """Run one ffmpeg writing rawvideo to stdout; read and drop its output. Returns bytes read."""
    total = 0
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            total += len(chunk)
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"floor ffmpeg failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")
    return total


def run_floor(
    argvs: list[list[str]], workers: int, *, checks: Preconditions, frame_bytes: int | None
) -> tuple[float, int]:
    """Wall time and bytes read of the commands over `workers` threads; frame_bytes: what each must give
    (None: no frame limit, so whatever the clips hold)."""
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        total = sum(pool.map(run_drain, argvs))
    wall = time.perf_counter() - started
    expected = len(argvs) * frame_bytes if frame_bytes is not None else None
    if expected is None:
        checks.require(FULL_FLOOR_BYTES, total > 0, "read nothing")
    else:
        checks.require(FLOOR_BYTES, total == expected, f"read {total} bytes, expected {expected}")
    return wall, total
