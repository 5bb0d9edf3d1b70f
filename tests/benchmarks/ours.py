"""Our side of the benchmark: run_preprocess over the clip set, timed from the call to its last event.

Preconditions checked after every run (outside the timed part): the run completed, the dataset
cache was off (no key, nothing replayed, no cache folder made), and every bundle is this run's own
new file, holding the requested frames at the requested bucket (so ffmpeg decoded them in this run).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from preprocess_svc.dataset_cache import cache_root
from preprocess_svc.events import BundleWritten, Progress, SkippedFile, Summary
from preprocess_svc.pipeline import run_preprocess
from preprocess_svc.settings import PreprocessSettings
from preprocess_svc.worker_pool import WorkerPool
from shared.fetch_policy import FetchPolicy
from tests.benchmarks.preconditions import Preconditions

COMPLETED = "the run completed: its last event is a Summary"
CACHE_OFF = "dataset cache off: no cache key, nothing replayed, no cache folder"
COMPUTED = "every bundle is this run's own new file, with the decoded frames in it"
ALL_SAMPLES = "one bundle per clip at the requested frames and bucket, none skipped"


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
        "fetch": FetchPolicy(allow_local_roots=(archive.parent,)),
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
    first_bundle_s: float  # + pool start-up (cold only) + first clip
    written: list[BundleWritten]
    skipped: list[SkippedFile]
    summary: Summary | None = None


def _bundle_root(settings: PreprocessSettings, storage_root: Path) -> Path:
    return storage_root / "datasets" / settings.dataset_id / "bundles"


def run_ours(
    settings: PreprocessSettings,
    storage_root: Path,
    worker_pool: WorkerPool | None = None,
    *,
    checks: Preconditions,
    expected_samples: int,
) -> OurRun:
    """One run with the dataset cache off: on the service's kind of warm pool when given one, else on a
    private pool (cold, as in tests). Its preconditions are checked once the clock has stopped."""
    folders_before = set(_bundle_root(settings, storage_root).glob("*"))
    written: list[BundleWritten] = []
    skipped: list[SkippedFile] = []
    summary = None
    first_progress = first_bundle = float("nan")
    started = time.perf_counter()
    for event in run_preprocess(settings, storage_root, worker_pool=worker_pool, use_cache=False):
        now = time.perf_counter() - started
        if isinstance(event, Progress) and first_progress != first_progress:
            first_progress = now
        if isinstance(event, BundleWritten):
            if not written:
                first_bundle = now
            written.append(event)
        elif isinstance(event, SkippedFile):
            skipped.append(event)
        elif isinstance(event, Summary):
            summary = event
    run = OurRun(time.perf_counter() - started, first_progress, first_bundle, written, skipped, summary)
    check_run(run, settings, storage_root, folders_before, checks, expected_samples)
    return run


def check_run(
    run: OurRun,
    settings: PreprocessSettings,
    storage_root: Path,
    folders_before: set[Path],
    checks: Preconditions,
    expected_samples: int,
) -> None:
    summary = run.summary
    checks.require(COMPLETED, summary is not None, "run_preprocess ended without a Summary")
    assert summary is not None
    cache = cache_root(storage_root, settings.owner).parent
    checks.require(
        CACHE_OFF,
        not summary.from_cache and not summary.cache_key and not cache.exists(),
        f"from_cache={summary.from_cache}, cache_key={summary.cache_key!r}, {cache} exists: {cache.exists()}",
    )
    frame_bytes = settings.number_of_frames * settings.width * settings.height * 3
    for bundle in run.written:
        size = bundle.path.stat().st_size if bundle.path.is_file() else -1
        checks.require(
            COMPUTED,
            bundle.run_copy
            and bundle.path.parent.parent == _bundle_root(settings, storage_root)
            and bundle.path.parent not in folders_before
            and size == bundle.size_bytes >= frame_bytes,
            f"{bundle.path}: run_copy={bundle.run_copy}, {size} bytes on disk, {bundle.size_bytes} announced, "
            f">= {frame_bytes} expected, folder existed before the run: {bundle.path.parent in folders_before}",
        )
    shapes = {(b.frames, b.width, b.height) for b in run.written}
    checks.require(
        ALL_SAMPLES,
        len(run.written) == summary.samples == expected_samples
        and not run.skipped
        and shapes == {(settings.number_of_frames, settings.width, settings.height)},
        f"{len(run.written)} bundles of (frames, width, height) {sorted(shapes)} for {expected_samples} clips; "
        f"skipped {[(s.path, s.reason, s.message) for s in run.skipped]}",
    )
