"""Preprocessing speed against the ffmpeg floor, and peak memory per worker (not a CI gate; prints figures).

  python -m tests.benchmarks.preprocess_speed [--clips 8] [--seconds 10] [--size 1280x720]
      [--frames 89] [--frame-rate 24] [--bucket 768x448] [--workers 2] [--reps 3]
      [--long-clip-seconds 120] [--long-size 1920x1080] [--full-floor] [--cache DIR]

Speed: run_preprocess over a zip of --clips H.264 clips (wall time from the call to its last event:
fetch + extract + pair + spawn pool + probe + fit + bundle write/hash), against the floor: the very
same ffmpeg command line our pipeline runs for each clip (captured from preprocess_svc.media, so the
fps/scale/crop/setsar chain and -frames:v are identical), its rawvideo output read and dropped in
Python, over the same clips through a pool of the same number of concurrent processes. Each side is
measured --reps times in alternating order, in the same run; the medians and their ratio are printed.

Memory: one --long-clip-seconds clip at --long-size goes through the pipeline alone while a thread
samples, every 50 ms, VmHWM/VmRSS of every descendant process (workers are children of whatever
thread started the pool, so /proc/<pid>/task/*/children is walked recursively). The peak of the
Python worker and of its ffmpeg child are reported separately, at the default bucket and at the
worst case (121 frames at 960x544).

Rendered clips are cached under --cache (default: $TMPDIR/ltx-preprocess-bench) and reused.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import inspect
import logging
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from preprocess_svc import media
from preprocess_svc.events import BundleWritten, Progress, Skipped
from preprocess_svc.pipeline import run_preprocess
from preprocess_svc.settings import PreprocessSettings
from shared.demo_dataset import render_clip, write_zip
from shared.ffmpeg import ffmpeg_exe

MOTION_SOURCES = (
    "testsrc2=s={w}x{h}:r={fps}",
    "mandelbrot=s={w}x{h}:r={fps}",
    "life=s={w}x{h}:r={fps}:mold=10:life_color=#00ff00:death_color=#aa0000:mold_color=#222200",
    "gradients=s={w}x{h}:r={fps}:speed=0.05:n=4",
    "color=c=navy:s={w}x{h}:r={fps}[bg];color=c=orange:s={bw}x{bh}:r={fps}[box];"
    "[bg][box]overlay=x='(W-w)*abs(sin(t*1.5))':y='(H-h)*abs(sin(t*2.1))':shortest=1",
    "cellauto=s={w}x{h}:r={fps}:rule=110:scroll=1",
    "rgbtestsrc=s={w}x{h}:r={fps},hue=H=t*40",
    "smptehdbars=s={w}x{h}:r={fps},rotate=a=t*0.3",
)
SOURCE_FPS = 30
SAMPLE_INTERVAL_S = 0.05
MIB = 1 << 20


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


# ---------------------------------------------------------------- clips


def render_long_clip(out: Path, *, seconds: float, size: tuple[int, int], preset: str) -> Path:
    """A long H.264 clip with motion; render_clip's preset and 120 s timeout are too slow for 1080p x 2 min."""
    w, h = size
    frames = round(seconds * SOURCE_FPS)
    source = f"testsrc2=s={w}x{h}:r={SOURCE_FPS}"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    argv += ["-frames:v", str(frames), "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    argv[-1] = str(tmp)
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    tmp.rename(out)
    return out


def make_clip_set(cache: Path, *, clips: int, seconds: float, size: tuple[int, int]) -> tuple[Path, list[Path], float]:
    """(zip, clip files, seconds spent rendering now: 0 when cached)."""
    w, h = size
    folder = cache / f"set_{clips}x{seconds:g}s_{w}x{h}"
    archive = folder / "clips.zip"
    paths = [folder / f"clip_{i:02d}.mp4" for i in range(clips)]
    if archive.exists() and all(p.exists() for p in paths):
        return archive, paths, 0.0
    started = time.monotonic()
    entries: dict[str, Path | str] = {}
    for i, path in enumerate(paths):
        graph = MOTION_SOURCES[i % len(MOTION_SOURCES)].format(w=w, h=h, fps=SOURCE_FPS, bw=w // 5, bh=h // 5)
        if not path.exists():
            render_clip(
                path, f"{graph}[out0]" if "[bg]" in graph else graph, frames=round(seconds * SOURCE_FPS), fps=SOURCE_FPS
            )
        entries[f"clips/{path.name}"] = path
        entries[f"clips/{path.stem}.txt"] = f"benchmark clip {i}: {graph.split('=')[0]}"
    write_zip(archive, entries)
    return archive, paths, time.monotonic() - started


def make_long_clip(cache: Path, *, seconds: float, size: tuple[int, int], preset: str) -> tuple[Path, Path, float]:
    w, h = size
    folder = cache / f"long_{seconds:g}s_{w}x{h}_{preset}"
    clip, archive = folder / "long.mp4", folder / "long.zip"
    if clip.exists() and archive.exists():
        return archive, clip, 0.0
    started = time.monotonic()
    if not clip.exists():
        render_long_clip(clip, seconds=seconds, size=size, preset=preset)
    write_zip(archive, {"long.mp4": clip, "long.txt": f"a {seconds:g} s test card at {w}x{h}"})
    return archive, clip, time.monotonic() - started


# ---------------------------------------------------------------- our pipeline


def build_settings(
    archive: Path, *, frames: int, frame_rate: int, bucket: tuple[int, int], workers: int
) -> PreprocessSettings:
    """PreprocessSettings for the run, filling only the fields the current version has (it is being extended)."""
    fields = {f.name: f for f in dataclasses.fields(PreprocessSettings)}
    wanted = {
        "dataset_id": "bench",
        "training_data_url": str(archive),
        "trigger_phrase": "BENCH",
        "number_of_frames": frames,
        "frame_rate": frame_rate,
        "width": bucket[0],
        "height": bucket[1],
        "workers": workers,
        "split_input_into_scenes": False,
    }
    kwargs = {k: v for k, v in wanted.items() if k in fields}
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SystemExit(f"PreprocessSettings has new required fields this benchmark does not know: {missing}")
    return PreprocessSettings(**kwargs)


@dataclasses.dataclass
class OurRun:
    wall_s: float
    first_progress_s: float  # fetch + extract + pair, before the pool
    first_bundle_s: float  # + spawn pool start-up + first clip
    written: list[BundleWritten]
    skipped: list[Skipped]


def run_ours(settings: PreprocessSettings, storage_root: Path) -> OurRun:
    written: list[BundleWritten] = []
    skipped: list[Skipped] = []
    first_progress = first_bundle = float("nan")
    started = time.perf_counter()
    for event in run_preprocess(settings, storage_root):
        now = time.perf_counter() - started
        if isinstance(event, Progress) and first_progress != first_progress:
            first_progress = now
        if isinstance(event, BundleWritten):
            if not written:
                first_bundle = now
            written.append(event)
        elif isinstance(event, Skipped):
            skipped.append(event)
    return OurRun(time.perf_counter() - started, first_progress, first_bundle, written, skipped)


# ---------------------------------------------------------------- the floor


def pipeline_argv(clip: Path, *, frames: int, frame_rate: int, bucket: tuple[int, int]) -> list[str]:
    """The exact ffmpeg argv preprocess_svc.media.fit_frames runs for this clip (captured, not re-typed)."""
    captured: list[list[str]] = []

    def capture(argv, **_kwargs):  # type: ignore[no-untyped-def]
        captured.append(list(argv))
        return iter(())

    original = media.stream_ffmpeg
    media.stream_ffmpeg = capture  # type: ignore[assignment]
    try:
        with contextlib.suppress(media.UnusableMediaError):
            media.fit_frames(
                clip, frames=frames, frame_rate=frame_rate, width=bucket[0], height=bucket[1], timeout_s=60
            )
    finally:
        media.stream_ffmpeg = original  # type: ignore[assignment]
    if len(captured) != 1:
        raise SystemExit(
            "could not capture fit_frames' ffmpeg command (media.py changed?); "
            f"captured {len(captured)} commands. Signature now: {inspect.signature(media.fit_frames)}"
        )
    return captured[0]


def capture_pipeline_commands(settings: PreprocessSettings, storage_root: Path, clip_dir: Path) -> list[list[str]]:
    """Every ffmpeg command one run_preprocess runs, via an $LTX_FFMPEG wrapper that logs argv then execs ffmpeg.

    The spawn workers inherit the environment, so this sees what the pipeline really runs (one or
    several windows per clip, whatever media.py does today). Paths into the extracted archive are
    mapped back to the cached clip files (same bytes) so the floor can replay them later.
    """
    from shared.ffmpeg import FFMPEG_ENV

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
            run_ours(settings, storage_root)
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


def run_floor(argvs: list[list[str]], workers: int) -> tuple[float, int]:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        total = sum(pool.map(run_drain, argvs))
    return time.perf_counter() - started, total


# ---------------------------------------------------------------- memory sampling


def _status(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) * 1024
    return found


def _descendants(pid: int) -> list[int]:
    """Every live descendant of pid: the union of /proc/<p>/task/*/children (workers may be children of
    a non-main thread) and a scan of every process's parent in /proc/*/stat (catches a child whose
    forking thread has gone, or one missed between two reads)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            parents.setdefault(ppid, []).append(int(stat.parent.name))
    found: list[int] = []
    seen, todo = {pid}, [pid]
    while todo:
        parent = todo.pop()
        children = set(parents.get(parent, []))
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                children.update(int(c) for c in task.read_text().split())
        for child in children - seen:
            seen.add(child)
            found.append(child)
            todo.append(child)
    return found


def _kind(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    if not argv or not argv[0]:
        return "gone"  # exiting or a zombie: its cmdline is empty
    head = os.path.basename(argv[0].decode(errors="replace"))
    text = b" ".join(argv).decode(errors="replace")
    if head.startswith("ffmpeg"):
        return "ffmpeg"
    if "resource_tracker" in text:
        return "resource_tracker"
    if "multiprocessing" in text or "spawn_main" in text:
        return "worker"
    return f"other:{head}"


class TreeSampler(threading.Thread):
    """Every 50 ms: peak VmHWM / VmRSS per descendant process, with its kind (worker, ffmpeg, ...)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, dict[str, int | str]] = {}
        self.samples = 0
        self._stop_flag = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_flag.is_set():
            for pid in _descendants(me):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    # Re-classified every time: a child seen between fork and exec still looks like its
                    # Python parent; after exec it is a fresh address space (VmHWM restarts), so a new entry.
                    kind = _kind(pid)
                    if kind == "gone":
                        continue
                    entry = self.peaks.get(pid)
                    if entry is None or entry["kind"] != kind:
                        entry = self.peaks[pid] = {"kind": kind, "hwm": 0, "rss": 0}
                    st = _status(pid)
                    entry["hwm"] = max(int(entry["hwm"]), st.get("VmHWM", 0))
                    entry["rss"] = max(int(entry["rss"]), st.get("VmRSS", 0))
            self.samples += 1
            self._stop_flag.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> dict[str, dict[str, int]]:
        self._stop_flag.set()
        self.join()
        by_kind: dict[str, dict[str, int]] = {}
        for entry in self.peaks.values():
            agg = by_kind.setdefault(str(entry["kind"]), {"count": 0, "hwm": 0, "rss": 0})
            agg["count"] += 1
            agg["hwm"] = max(agg["hwm"], int(entry["hwm"]))
            agg["rss"] = max(agg["rss"], int(entry["rss"]))
        return by_kind


def with_sampler(fn: Callable[[], object]) -> tuple[object, dict[str, dict[str, int]], int]:
    sampler = TreeSampler()
    sampler.start()
    try:
        result = fn()
    finally:
        by_kind = sampler.stop()
    return result, by_kind, sampler.samples


# ---------------------------------------------------------------- breakdown helpers


def _noop(_index: int) -> int:
    import preprocess_svc.pipeline  # noqa: F401  (what a worker imports to unpickle process_sample)

    return os.getpid()


def spawn_startup_s(workers: int) -> float:
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_noop, range(workers)))
    return time.perf_counter() - started


def timed(fn: Callable[[], object], reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped descendants (workers, their ffmpeg)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---------------------------------------------------------------- main


def main() -> int:
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
    parser.add_argument("--full-floor", action="store_true", help="also time the floor without -frames:v")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ltx-preprocess-bench")
    args = parser.parse_args()

    # Quiet the per-sample info logs of the pipeline (in this process) so the figures stay readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
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
    fit_argvs = [pipeline_argv(c, frames=args.frames, frame_rate=args.frame_rate, bucket=args.bucket) for c in clips]
    with tempfile.TemporaryDirectory(prefix="ltx-bench-store-") as store:
        argvs = capture_pipeline_commands(settings, Path(store), clips[0].parent)
    if argvs:
        print(
            f"floor = the {len(argvs)} ffmpeg command(s) run_preprocess ran for {len(clips)} clips "
            f"(captured via $LTX_FFMPEG), e.g.:\n  " + " ".join(argvs[0]),
            flush=True,
        )
        if sorted(map(tuple, argvs)) != sorted(map(tuple, fit_argvs)):
            print("  NOTE: differs from one fit_frames(...) command per clip:\n  " + " ".join(fit_argvs[0]), flush=True)
    else:
        argvs = fit_argvs
        print("floor command (captured from preprocess_svc.media.fit_frames):\n  " + " ".join(argvs[0]), flush=True)

    ours_t: list[float] = []
    floor_t: list[float] = []
    ours_cpu: list[float] = []
    floor_cpu: list[float] = []
    runs: list[OurRun] = []
    expected_bytes = args.clips * args.frames * args.bucket[0] * args.bucket[1] * 3
    with tempfile.TemporaryDirectory(prefix="ltx-bench-store-") as store:
        # One untimed warm-up of each side (page cache, first imports in the parent).
        run_ours(settings, Path(store))
        run_floor(argvs, args.workers)
        for rep in range(args.reps):
            order = ("ours", "floor") if rep % 2 == 0 else ("floor", "ours")
            for side in order:
                cpu0 = cpu_seconds()
                if side == "ours":
                    run = run_ours(settings, Path(store))
                    if len(run.written) != args.clips and rep == 0:
                        print(
                            f"  WARNING: ours wrote {len(run.written)} bundles, "
                            f"skipped {[(s.path, s.reason) for s in run.skipped]}"
                        )
                    runs.append(run)
                    ours_t.append(run.wall_s)
                else:
                    wall, nbytes = run_floor(argvs, args.workers)
                    if nbytes != expected_bytes and rep == 0:
                        print(
                            f"  note: floor read {nbytes} bytes; {args.clips} x {args.frames} frames = {expected_bytes}"
                        )
                    floor_t.append(wall)
                (ours_cpu if side == "ours" else floor_cpu).append(cpu_seconds() - cpu0)
                print(
                    f"  rep {rep + 1} {side:5s}: {(ours_t if side == 'ours' else floor_t)[-1]:7.2f} s wall, "
                    f"{(ours_cpu if side == 'ours' else floor_cpu)[-1]:6.2f} s CPU   (load {loadavg()})",
                    flush=True,
                )
        full_floor = None
        if args.full_floor:
            full_floor = run_floor([without_frame_limit(a) for a in argvs], args.workers)[0]

    ours_med, floor_med = statistics.median(ours_t), statistics.median(floor_t)
    ratio = ours_med / floor_med

    # Where the time goes: each step on its own, in this process, serially.
    clip0 = clips[0]
    info = media.probe(clip0)
    probe_s = timed(lambda: media.probe(clip0))
    fit_s = timed(
        lambda: media.fit_frames(
            clip0,
            frames=args.frames,
            frame_rate=args.frame_rate,
            width=args.bucket[0],
            height=args.bucket[1],
            timeout_s=120,
        )
    )
    floor1_s = timed(lambda: run_drain(fit_argvs[0]))
    from shared.bundle import SampleBundle, write_bundle

    pixels, _ = media.fit_frames(
        clip0,
        frames=args.frames,
        frame_rate=args.frame_rate,
        width=args.bucket[0],
        height=args.bucket[1],
        timeout_s=120,
    )
    with tempfile.TemporaryDirectory(prefix="ltx-bench-write-") as tmp:
        bundle = SampleBundle(
            sample_id="x",
            frames=pixels,
            fps=float(args.frame_rate),
            caption="c",
            source_path="x",
            source=info.as_source_metadata(),
        )
        write_s = timed(lambda: write_bundle(Path(tmp) / "x.safetensors", bundle))
        hash_s = timed(lambda: hashlib.sha256(pixels.tobytes()).hexdigest())
    spawn_s = statistics.median(spawn_startup_s(args.workers) for _ in range(3))
    pre_pool_s = statistics.median(r.first_progress_s for r in runs)

    long_rows = []
    long_render_s = 0.0
    long_size_mib = 0.0
    if args.long_clip_seconds > 0:
        lw, lh = args.long_size
        print(
            f"long clip: {args.long_clip_seconds:g} s {lw}x{lh} {SOURCE_FPS} fps (preset {args.long_preset}) ...",
            flush=True,
        )
        long_zip, long_clip, long_render_s = make_long_clip(
            args.cache, seconds=args.long_clip_seconds, size=args.long_size, preset=args.long_preset
        )
        long_size_mib = long_clip.stat().st_size / MIB
        print(
            f"  {long_size_mib:.0f} MiB; {'cached' if not long_render_s else f'rendered in {long_render_s:.1f} s'}",
            flush=True,
        )
        cases = [(args.frames, args.bucket), (args.worst_frames, args.worst_bucket)]
        for frames, bucket in cases:
            s = build_settings(long_zip, frames=frames, frame_rate=args.frame_rate, bucket=bucket, workers=args.workers)
            with tempfile.TemporaryDirectory(prefix="ltx-bench-long-") as store:
                try:
                    run, by_kind, samples = with_sampler(lambda s=s, store=store: run_ours(s, Path(store)))
                except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
                    print(f"  {frames} frames @ {bucket[0]}x{bucket[1]}: pipeline failed: {exc}", flush=True)
                    continue
            argv = pipeline_argv(long_clip, frames=frames, frame_rate=args.frame_rate, bucket=bucket)
            (floor_wall, _), floor_kind, _ = with_sampler(lambda argv=argv: run_floor([argv], 1))
            assert isinstance(run, OurRun)
            size = sum(b.size_bytes for b in run.written)
            print(
                f"    {len(run.written)} bundle(s) written, {len(run.skipped)} skipped; {samples} RSS samples; "
                f"kinds seen: {sorted(by_kind)}",
                flush=True,
            )
            long_rows.append((frames, bucket, run, by_kind, floor_kind, floor_wall, size, samples))
            print(
                f"  {frames} frames @ {bucket[0]}x{bucket[1]}: ours {run.wall_s:.2f} s, floor {floor_wall:.2f} s",
                flush=True,
            )

    # ------------------------------------------------------------ summary
    bw, bh = args.bucket
    print("\n" + "=" * 78)
    print(
        f"SPEED  {args.clips} clips x {args.seconds:g} s {w}x{h}@{SOURCE_FPS} -> {args.frames} frames @ "
        f"{args.frame_rate} fps, {bw}x{bh}, {args.workers} concurrent; {args.reps} reps, alternating"
    )
    print(f"  {'':28s}{'median':>9s}   runs")
    print(f"  {'ours (run_preprocess)':28s}{ours_med:8.2f}s   " + ", ".join(f"{t:.2f}" for t in ours_t))
    print(f"  {'floor (ffmpeg, same argv)':28s}{floor_med:8.2f}s   " + ", ".join(f"{t:.2f}" for t in floor_t))
    if full_floor is not None:
        print(f"  {'floor, full clip (1 run)':28s}{full_floor:8.2f}s")
    cpu_ratio = statistics.median(ours_cpu) / statistics.median(floor_cpu)
    print(
        f"  {'CPU s, ours (all processes)':28s}{statistics.median(ours_cpu):8.2f}s   "
        + ", ".join(f"{t:.2f}" for t in ours_cpu)
    )
    print(f"  {'CPU s, floor':28s}{statistics.median(floor_cpu):8.2f}s   " + ", ".join(f"{t:.2f}" for t in floor_cpu))
    print(f"  CPU ratio ours/floor = {cpu_ratio:.3f}  (less sensitive to other load on the machine than wall time)")
    verdict = "OK" if ratio <= 1.25 else "ABOVE GOAL"
    print(f"  ratio ours/floor = {ratio:.3f}  (goal <= 1.25: {verdict}); overhead {ours_med - floor_med:+.2f} s")
    print("WHERE THE TIME GOES (medians, serial, in this process)")
    print(f"  before the pool (fetch copy + extract + pair), in-run   {pre_pool_s:6.3f} s per run")
    print(f"  spawn pool of {args.workers} + import preprocess_svc.pipeline      {spawn_s:6.3f} s per run")
    print(f"  probe (PyAV open + first frame decode)                  {probe_s:6.3f} s per clip")
    print(f"  fit_frames (ffmpeg + numpy copy), one sample            {fit_s:6.3f} s per sample")
    print(f"  floor, same ffmpeg argv alone                           {floor1_s:6.3f} s per sample")
    print(
        f"  write_bundle (safetensors write + sha256 re-read)       {write_s:6.3f} s per sample "
        f"({pixels.nbytes / MIB:.1f} MiB)"
    )
    print(f"    of which sha256 of the pixels alone                   {hash_s:6.3f} s")
    per_sample_extra = (fit_s - floor1_s) + write_s
    samples = len(argvs)
    est = pre_pool_s + spawn_s + (probe_s * args.clips + per_sample_extra * samples) / args.workers
    print(
        f"  estimated overhead: fixed {pre_pool_s + spawn_s:.2f} s + ({probe_s:.3f} s probe x {args.clips} clips"
        f" + {per_sample_extra:.3f} s/sample x {samples} samples) / {args.workers} workers"
        f" = {est:.2f} s (measured {ours_med - floor_med:.2f} s)"
    )
    if long_rows:
        lw, lh = args.long_size
        print(
            f"MEMORY  one {args.long_clip_seconds:g} s {lw}x{lh}@{SOURCE_FPS} clip ({long_size_mib:.0f} MiB, "
            f"render {'cached' if not long_render_s else f'{long_render_s:.0f} s'}), sampled every 50 ms"
        )
        print(
            f"  {'case':24s}{'worker HWM':>11s}{'ffmpeg HWM':>11s}{'floor ffmpeg':>13s}"
            f"{'bundles':>10s}{'1 sample':>9s}{'wall':>8s}"
        )
        for frames, bucket, run, by_kind, floor_kind, _floor_wall, size, _samples in long_rows:
            worker = by_kind.get("worker", {}).get("hwm", 0) / MIB
            ff = by_kind.get("ffmpeg", {}).get("hwm", 0) / MIB
            fl = floor_kind.get("ffmpeg", {}).get("hwm", 0) / MIB
            px = frames * bucket[0] * bucket[1] * 3 / MIB
            print(
                f"  {frames:3d} fr @ {bucket[0]}x{bucket[1]:<11d}{worker:9.0f}Mi{ff:9.0f}Mi{fl:11.0f}Mi"
                f"{size / MIB:8.1f}Mi{px:7.1f}Mi{run.wall_s:7.2f}s"
            )
            others = {k: v for k, v in by_kind.items() if k not in ("worker", "ffmpeg")}
            if others:
                print(
                    "      also: " + ", ".join(f"{k} x{v['count']} {v['hwm'] / MIB:.0f} MiB" for k, v in others.items())
                )
        print(f"  (parent process VmHWM {_status(os.getpid())['VmHWM'] / MIB:.0f} MiB)")
    print(f"load average at end: {loadavg()} ({cpus} cores; other processes may share the CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
