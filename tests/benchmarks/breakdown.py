"""Where the time goes: each step of one sample on its own, serially, in this process (medians of 3)."""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from preprocess_svc import media
from preprocess_svc.worker_pool import WorkerPool
from shared.bundle import SampleBundle, write_bundle
from tests.benchmarks.floor import run_drain
from tests.benchmarks.preconditions import Preconditions
from tests.benchmarks.process_tree import live_workers

STEP_FRAMES = "each timed step handled the sample's frames (stream_frames' count, the floor's bytes, the bundle)"
POOL_STARTED = "a cold pool start brought up every worker"


@dataclass(frozen=True)
class Breakdown:
    probe_s: float  # PyAV open + first frame decode, per clip
    fit_s: float  # stream_frames: ffmpeg into one reused frame buffer (what the worker's sink receives), per sample
    floor_s: float  # the same ffmpeg argv alone, output dropped, per sample
    write_s: float  # write_bundle: safetensors write, hashed while writing, per sample
    hash_s: float  # sha256 of the pixels alone
    pool_start_s: float  # a cold pool: spawn the workers and import the sample worker in each
    sample_mib: float

    @property
    def per_sample_extra_s(self) -> float:
        return (self.fit_s - self.floor_s) + self.write_s


def timed(fn: Callable[[], object], reps: int = 3, check: Callable[[object], None] = lambda result: None) -> float:
    """Median wall time of fn(); check sees each result, outside the timed part."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        check(result)
    return statistics.median(times)


def pool_start_s(workers: int, checks: Preconditions) -> float:
    """Seconds from nothing to `workers` warm workers (what a cold run pays, and the service once), then stop."""
    others = live_workers()
    started = time.perf_counter()
    pool = WorkerPool(workers)
    pool.start(wait=True)
    up_s = time.perf_counter() - started
    up = live_workers() - others  # not timed
    started = time.perf_counter()
    pool.shutdown()
    down_s = time.perf_counter() - started
    checks.require(POOL_STARTED, len(up) == workers, f"{len(up)} workers up, {workers} asked")
    return up_s + down_s


def bundle_write_s(path: Path, bundle: SampleBundle, reps: int = 3) -> float:
    """Writing a bundle where none is, as in a run (which starts by deleting the dataset's old bundles)."""
    times = []
    for _ in range(reps):
        path.unlink(missing_ok=True)  # not timed: a run does it before its pool starts
        started = time.perf_counter()
        write_bundle(path, bundle)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_breakdown(
    clip: Path,
    floor_argv: list[str],
    *,
    frames: int,
    frame_rate: int,
    bucket: tuple[int, int],
    workers: int,
    checks: Preconditions,
    reps: int = 3,
) -> Breakdown:
    width, height = bucket
    frame_bytes = frames * width * height * 3

    def counted(what: str, expected: int) -> Callable[[object], None]:
        return lambda got: checks.require(STEP_FRAMES, got == expected, f"{what}: {got}, expected {expected}")

    def fit() -> int:
        return media.stream_frames(
            clip,
            sink=lambda frame: None,
            frames=frames,
            frame_rate=frame_rate,
            width=width,
            height=height,
            timeout_s=120,
        )

    info = media.probe(clip)
    probe_s = timed(lambda: media.probe(clip), reps)
    fit_s = timed(fit, reps, counted("stream_frames frames", frames))
    floor_s = timed(lambda: run_drain(floor_argv), reps, counted("floor bytes", frame_bytes))
    pixels, _ = media.fit_frames(clip, frames=frames, frame_rate=frame_rate, width=width, height=height, timeout_s=120)
    counted("fit_frames bytes", frame_bytes)(pixels.nbytes)
    bundle = SampleBundle(
        sample_id="x",
        frames=pixels,
        fps=float(frame_rate),
        caption="c",
        source_path="x",
        source=info.as_source_metadata(),
    )
    with tempfile.TemporaryDirectory(prefix="ltx-bench-write-") as tmp:
        write_s = bundle_write_s(Path(tmp) / "x.safetensors", bundle, reps)
        counted("bundle holds the frames", True)((Path(tmp) / "x.safetensors").stat().st_size >= frame_bytes)
    hash_s = timed(lambda: hashlib.sha256(memoryview(pixels).cast("B")).hexdigest(), reps)
    return Breakdown(
        probe_s=probe_s,
        fit_s=fit_s,
        floor_s=floor_s,
        write_s=write_s,
        hash_s=hash_s,
        pool_start_s=statistics.median(pool_start_s(workers, checks) for _ in range(reps)),
        sample_mib=pixels.nbytes / (1 << 20),
    )
