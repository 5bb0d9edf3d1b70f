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


def timed(fn: Callable[[], object], reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def pool_start_s(workers: int) -> float:
    """Seconds from nothing to `workers` warm workers (what a cold run pays, and the service once), then stop."""
    started = time.perf_counter()
    pool = WorkerPool(workers)
    pool.start(wait=True)
    pool.shutdown()
    return time.perf_counter() - started


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
    clip: Path, floor_argv: list[str], *, frames: int, frame_rate: int, bucket: tuple[int, int], workers: int
) -> Breakdown:
    width, height = bucket

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
    probe_s = timed(lambda: media.probe(clip))
    fit_s = timed(fit)
    floor_s = timed(lambda: run_drain(floor_argv))
    pixels, _ = media.fit_frames(clip, frames=frames, frame_rate=frame_rate, width=width, height=height, timeout_s=120)
    bundle = SampleBundle(
        sample_id="x",
        frames=pixels,
        fps=float(frame_rate),
        caption="c",
        source_path="x",
        source=info.as_source_metadata(),
    )
    with tempfile.TemporaryDirectory(prefix="ltx-bench-write-") as tmp:
        write_s = bundle_write_s(Path(tmp) / "x.safetensors", bundle)
    hash_s = timed(lambda: hashlib.sha256(memoryview(pixels).cast("B")).hexdigest())
    return Breakdown(
        probe_s=probe_s,
        fit_s=fit_s,
        floor_s=floor_s,
        write_s=write_s,
        hash_s=hash_s,
        pool_start_s=statistics.median(pool_start_s(workers) for _ in range(3)),
        sample_mib=pixels.nbytes / (1 << 20),
    )
