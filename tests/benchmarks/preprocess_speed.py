"""Preprocessing speed against the ffmpeg floor, and peak memory per worker (not a CI gate; prints figures).

  python -m tests.benchmarks.preprocess_speed [--clips 8] [--seconds 10] [--size 1280x720]
      [--frames 89] [--frame-rate 24] [--bucket 768x448] [--workers 2] [--reps 3]
      [--long-clip-seconds 120] [--long-size 1920x1080] [--sample-interval 0.05] [--full-floor] [--cache DIR]

Speed (tests.benchmarks.speed): run_preprocess over a zip of --clips H.264 clips, with the dataset cache
off so that every run decodes (wall time from the call to its last event: fetch + extract + pair + probe
+ fit + bundle write/hash; the service, cache on, does this on a miss), against the floor
(tests.benchmarks.floor): the very same ffmpeg command line our pipeline runs for each clip
(captured from the running pipeline, so the fps/scale/crop/setsar chain and -frames:v are identical),
its rawvideo output read and dropped in Python, over the same clips through a pool of the same number
of concurrent processes. Our side is measured twice: on a warm worker pool made once before the reps,
as the running service does, and on a private pool the run spawns itself (cold: + spawn and imports,
as in the tests). Each side is measured --reps times in rotating order, in the same run; the medians
and the ratios to the floor are printed, for wall time and for the CPU time of the whole process tree.

Where the time goes (tests.benchmarks.breakdown): each step of one sample alone, serially.

Memory (tests.benchmarks.long_clip_memory): one --long-clip-seconds clip at --long-size goes through
the pipeline alone while a thread samples, every --sample-interval (50 ms), VmHWM/VmRSS of every
descendant process (tests.benchmarks.process_tree). The peak of the Python worker and of its ffmpeg child are reported
separately, at the default bucket and at the worst case (121 frames at 960x544).

Rendered clips (tests.benchmarks.clips) are cached under --cache (default: $TMPDIR/ltx-preprocess-bench).

Preconditions (tests.benchmarks.preconditions), checked as it runs, and fatal when false: every run of
ours completed with the dataset cache off and wrote one new bundle per clip holding the decoded frames
(ours); the pipeline's ffmpeg commands were captured (floor); every floor run read every frame; the warm
pool kept its workers; each of our sides took at least half the floor's CPU time (speed); each step of
the breakdown handled the sample's frames (breakdown); the memory sampler saw the processes it reports
(long_clip_memory). The ones that held are listed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

import structlog

from preprocess_svc.settings import PreprocessSettings
from shared.ffmpeg import ffmpeg_exe
from tests.benchmarks.breakdown import Breakdown, measure_breakdown
from tests.benchmarks.clips import SOURCE_FPS, make_clip_set
from tests.benchmarks.floor import capture_pipeline_commands, pipeline_argv, without_frame_limit
from tests.benchmarks.long_clip_memory import LongClipResult, measure_long_clip, print_long_clip
from tests.benchmarks.ours import build_settings
from tests.benchmarks.preconditions import Preconditions
from tests.benchmarks.process_tree import SAMPLE_INTERVAL_S
from tests.benchmarks.speed import COLD, FLOOR, WARM, SpeedResult, loadavg, measure_speed, print_speed

MIB = 1 << 20


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=parse_size, default=(1280, 720))
    parser.add_argument("--frames", type=int, default=89)
    parser.add_argument("--frame-rate", type=int, default=24)
    parser.add_argument("--bucket", type=parse_size, default=(768, 448))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--long-clip-seconds", type=float, default=120.0, help="0 skips the memory part")
    parser.add_argument("--long-size", type=parse_size, default=(1920, 1080))
    parser.add_argument("--long-preset", default="ultrafast", help="x264 preset for rendering the long clip")
    parser.add_argument("--worst-frames", type=int, default=121)
    parser.add_argument("--worst-bucket", type=parse_size, default=(960, 544))
    parser.add_argument("--sample-interval", type=float, default=SAMPLE_INTERVAL_S, help="memory sampling, seconds")
    parser.add_argument("--full-floor", action="store_true", help="also time the floor without -frames:v")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ltx-preprocess-bench")
    return parser.parse_args(argv)


def floor_commands(
    args: argparse.Namespace, settings: PreprocessSettings, clips: list[Path], checks: Preconditions
) -> list[list[str]]:
    """The ffmpeg commands one run really runs (captured)."""
    fit_argvs = [pipeline_argv(c, frames=args.frames, frame_rate=args.frame_rate, bucket=args.bucket) for c in clips]
    with tempfile.TemporaryDirectory(prefix="ltx-bench-store-") as store:
        argvs = capture_pipeline_commands(
            settings, Path(store), clips[0].parent, checks=checks, expected_samples=len(clips)
        )
    print(
        f"floor = the {len(argvs)} ffmpeg command(s) run_preprocess ran for {len(clips)} clips "
        f"(captured via $LTX_FFMPEG), e.g.:\n  " + " ".join(argvs[0]),
        flush=True,
    )
    if sorted(map(tuple, argvs)) != sorted(map(tuple, fit_argvs)):
        print("  NOTE: differs from one fit_frames(...) command per clip:\n  " + " ".join(fit_argvs[0]), flush=True)
    return argvs


def print_breakdown(b: Breakdown, speed: SpeedResult, *, clips: int, samples: int, workers: int) -> None:
    pre_pool_s = statistics.median(r.first_progress_s for r in speed.warm_runs)
    print("WHERE THE TIME GOES (medians, serial, in this process)")
    print(f"  before the pool (fetch copy + extract + pair), in-run   {pre_pool_s:6.3f} s per run")
    print(f"  cold pool: spawn {workers} + import the sample worker      {b.pool_start_s:6.3f} s per run (warm: 0)")
    print(f"  probe (PyAV open + first frame decode)                  {b.probe_s:6.3f} s per clip")
    print(f"  stream_frames (ffmpeg into one frame buffer), one sample{b.fit_s:6.3f} s per sample")
    print(f"  floor, same ffmpeg argv alone                           {b.floor_s:6.3f} s per sample")
    print(
        f"  write_bundle (safetensors write, hashed as written)     {b.write_s:6.3f} s per sample "
        f"({b.sample_mib:.1f} MiB)"
    )
    print(f"    of which sha256 of the pixels alone                   {b.hash_s:6.3f} s")
    spread = (b.probe_s * clips + b.per_sample_extra_s * samples) / workers
    for side, fixed in ((WARM, pre_pool_s), (COLD, pre_pool_s + b.pool_start_s)):
        measured = speed.sides[side].wall_median - speed.sides[FLOOR].wall_median
        print(
            f"  estimated overhead, {side}: fixed {fixed:.2f} s + ({b.probe_s:.3f} s probe x {clips} clips"
            f" + {b.per_sample_extra_s:.3f} s/sample x {samples} samples) / {workers} workers"
            f" = {fixed + spread:.2f} s (measured {measured:.2f} s)"
        )


@dataclasses.dataclass
class Report:
    speed: SpeedResult
    breakdown: Breakdown
    long_clip: LongClipResult | None
    samples: int  # ffmpeg commands (samples) per run
    checks: Preconditions


def run(args: argparse.Namespace) -> Report:
    """Measure and print every figure; raises PreconditionFailed when a run did not do what it names."""
    checks = Preconditions("preprocess_speed")
    cpus = os.cpu_count()
    print(f"machine: {cpus} cores, load average at start {loadavg()}; ffmpeg {ffmpeg_exe()}", flush=True)
    fields = [f.name for f in dataclasses.fields(PreprocessSettings)]
    print(f"PreprocessSettings fields: {', '.join(fields)}", flush=True)

    archive, clips, render_s = make_clip_set(args.cache, clips=args.clips, seconds=args.seconds, size=args.size)
    w, h = args.size
    print(
        f"clip set: {args.clips} x {args.seconds:g} s {w}x{h} {SOURCE_FPS} fps H.264 "
        f"({archive.stat().st_size / MIB:.1f} MiB zip; "
        f"{'cached' if not render_s else f'rendered in {render_s:.1f} s'})",
        flush=True,
    )
    settings = build_settings(
        archive, frames=args.frames, frame_rate=args.frame_rate, bucket=args.bucket, workers=args.workers
    )
    argvs = floor_commands(args, settings, clips, checks)
    bw, bh = args.bucket
    speed = measure_speed(
        settings,
        argvs,
        workers=args.workers,
        reps=args.reps,
        expected_clips=args.clips,
        frame_bytes=args.frames * bw * bh * 3,
        full_floor_argvs=[without_frame_limit(a) for a in argvs] if args.full_floor else None,
        checks=checks,
    )
    breakdown = measure_breakdown(
        clips[0],
        pipeline_argv(clips[0], frames=args.frames, frame_rate=args.frame_rate, bucket=args.bucket),
        frames=args.frames,
        frame_rate=args.frame_rate,
        bucket=args.bucket,
        workers=args.workers,
        checks=checks,
        reps=args.reps,
    )
    long_clip = None
    if args.long_clip_seconds > 0:
        long_clip = measure_long_clip(
            args.cache,
            seconds=args.long_clip_seconds,
            size=args.long_size,
            preset=args.long_preset,
            cases=[(args.frames, args.bucket), (args.worst_frames, args.worst_bucket)],
            frame_rate=args.frame_rate,
            workers=args.workers,
            checks=checks,
            interval_s=args.sample_interval,
        )

    print("\n" + "=" * 78)
    print_speed(
        speed,
        f"SPEED  {args.clips} clips x {args.seconds:g} s {w}x{h}@{SOURCE_FPS} -> {args.frames} frames @ "
        f"{args.frame_rate} fps, {bw}x{bh}, {args.workers} concurrent; {args.reps} reps, rotating order",
    )
    print_breakdown(breakdown, speed, clips=args.clips, samples=len(argvs), workers=args.workers)
    if long_clip is not None and long_clip.rows:
        print_long_clip(long_clip, seconds=args.long_clip_seconds, size=args.long_size, interval_s=args.sample_interval)
    print(f"load average at end: {loadavg()} ({cpus} cores; other processes may share the CPU)")
    print(checks.summary())
    return Report(speed, breakdown, long_clip, len(argvs), checks)


def main(argv: list[str] | None = None) -> int:
    # Quiet the per-sample info logs of the pipeline (in this process) so the figures stay readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
