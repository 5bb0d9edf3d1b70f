"""Peak memory per process while one long clip goes through the pipeline alone, against the floor's ffmpeg.

Runs on a private (cold) pool, so the sampled workers hold only this clip's memory, not the history
of a warm pool's earlier runs; with the dataset cache off (tests.benchmarks.ours checks it). Also
checked: the clip is as long and as large as named, and the sampler really saw the processes whose
peaks it reports (our worker and its ffmpeg, the floor's ffmpeg), which read every frame.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from preprocess_svc import media
from tests.benchmarks.clips import SOURCE_FPS, make_long_clip
from tests.benchmarks.floor import pipeline_argv, run_floor
from tests.benchmarks.ours import OurRun, build_settings, run_ours
from tests.benchmarks.preconditions import PreconditionFailed, Preconditions
from tests.benchmarks.process_tree import SAMPLE_INTERVAL_S, vm_status, with_sampler

MIB = 1 << 20
LONG_CLIP = "the long clip is as long and as large as named"
SAMPLED = "the sampler saw the processes it reports: our worker and its ffmpeg, the floor's ffmpeg"


@dataclass(frozen=True)
class LongClipRow:
    frames: int
    bucket: tuple[int, int]
    run: OurRun
    by_kind: dict[str, dict[str, int]]  # our run: peak per kind of process (worker, ffmpeg, ...)
    floor_kind: dict[str, dict[str, int]]  # the floor's ffmpeg alone
    bundles_bytes: int


@dataclass(frozen=True)
class LongClipResult:
    size_mib: float
    render_s: float  # 0 when cached
    rows: list[LongClipRow]


def measure_long_clip(
    cache: Path,
    *,
    seconds: float,
    size: tuple[int, int],
    preset: str,
    cases: list[tuple[int, tuple[int, int]]],
    frame_rate: int,
    workers: int,
    checks: Preconditions,
    interval_s: float = SAMPLE_INTERVAL_S,
) -> LongClipResult:
    lw, lh = size
    print(f"long clip: {seconds:g} s {lw}x{lh} {SOURCE_FPS} fps (preset {preset}) ...", flush=True)
    long_zip, long_clip, render_s = make_long_clip(cache, seconds=seconds, size=size, preset=preset)
    info = media.probe(long_clip)
    checks.require(
        LONG_CLIP,
        (info.width, info.height) == size and abs(info.duration_s - seconds) <= max(0.1 * seconds, 2 / SOURCE_FPS),
        f"{long_clip}: {info.width}x{info.height}, {info.duration_s:.2f} s",
    )
    size_mib = long_clip.stat().st_size / MIB
    print(f"  {size_mib:.0f} MiB; {'cached' if not render_s else f'rendered in {render_s:.1f} s'}", flush=True)
    rows = []
    for frames, bucket in cases:
        settings = build_settings(long_zip, frames=frames, frame_rate=frame_rate, bucket=bucket, workers=workers)
        with tempfile.TemporaryDirectory(prefix="ltx-bench-long-") as store:
            try:
                run, by_kind, samples = with_sampler(
                    lambda s=settings, store=store: run_ours(s, Path(store), checks=checks, expected_samples=1),
                    interval_s,
                )
            except PreconditionFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
                print(f"  {frames} frames @ {bucket[0]}x{bucket[1]}: pipeline failed: {exc}", flush=True)
                continue
        argv = pipeline_argv(long_clip, frames=frames, frame_rate=frame_rate, bucket=bucket)
        frame_bytes = frames * bucket[0] * bucket[1] * 3
        (floor_wall, _), floor_kind, _ = with_sampler(
            lambda argv=argv, fb=frame_bytes: run_floor([argv], 1, checks=checks, frame_bytes=fb), interval_s
        )
        assert isinstance(run, OurRun)
        seen = {
            "worker": by_kind.get("worker", {}).get("hwm", 0),
            "its ffmpeg": by_kind.get("ffmpeg", {}).get("hwm", 0),
            "floor ffmpeg": floor_kind.get("ffmpeg", {}).get("hwm", 0),
        }
        checks.require(
            SAMPLED, all(seen.values()), f"peak bytes seen: {seen}; {samples} samples, kinds {sorted(by_kind)}"
        )
        print(
            f"    {len(run.written)} bundle(s) written, {len(run.skipped)} skipped; {samples} RSS samples; "
            f"kinds seen: {sorted(by_kind)}",
            flush=True,
        )
        print(
            f"  {frames} frames @ {bucket[0]}x{bucket[1]}: ours {run.wall_s:.2f} s, floor {floor_wall:.2f} s",
            flush=True,
        )
        rows.append(LongClipRow(frames, bucket, run, by_kind, floor_kind, sum(b.size_bytes for b in run.written)))
    return LongClipResult(size_mib=size_mib, render_s=render_s, rows=rows)


def print_long_clip(
    result: LongClipResult, *, seconds: float, size: tuple[int, int], interval_s: float = SAMPLE_INTERVAL_S
) -> None:
    lw, lh = size
    render = "cached" if not result.render_s else f"{result.render_s:.0f} s"
    print(
        f"MEMORY  one {seconds:g} s {lw}x{lh}@{SOURCE_FPS} clip ({result.size_mib:.0f} MiB, render {render}), "
        f"sampled every {interval_s * 1000:g} ms"
    )
    print(
        f"  {'case':24s}{'worker HWM':>11s}{'ffmpeg HWM':>11s}{'floor ffmpeg':>13s}"
        f"{'bundles':>10s}{'1 sample':>9s}{'wall':>8s}"
    )
    for row in result.rows:
        worker = row.by_kind.get("worker", {}).get("hwm", 0) / MIB
        ff = row.by_kind.get("ffmpeg", {}).get("hwm", 0) / MIB
        fl = row.floor_kind.get("ffmpeg", {}).get("hwm", 0) / MIB
        w, h = row.bucket
        px = row.frames * w * h * 3 / MIB
        print(
            f"  {row.frames:3d} fr @ {w}x{h:<11d}{worker:9.0f}Mi{ff:9.0f}Mi{fl:11.0f}Mi"
            f"{row.bundles_bytes / MIB:8.1f}Mi{px:7.1f}Mi{row.run.wall_s:7.2f}s"
        )
        others = {k: v for k, v in row.by_kind.items() if k not in ("worker", "ffmpeg")}
        if others:
            print("      also: " + ", ".join(f"{k} x{v['count']} {v['hwm'] / MIB:.0f} MiB" for k, v in others.items()))
    print(f"  (parent process VmHWM {vm_status(os.getpid())['VmHWM'] / MIB:.0f} MiB)")
