"""Our side of the benchmark: run_preprocess over the clip set, timed from the call to its last event."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from preprocess_svc.events import BundleWritten, Progress, Skipped
from preprocess_svc.pipeline import run_preprocess
from preprocess_svc.settings import PreprocessSettings
from preprocess_svc.worker_pool import WorkerPool
from shared.fetch_policy import FetchPolicy


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
    skipped: list[Skipped]


def run_ours(settings: PreprocessSettings, storage_root: Path, worker_pool: WorkerPool | None = None) -> OurRun:
    """One run: on the service's kind of warm pool when given one, else on a private pool (cold, as in tests)."""
    written: list[BundleWritten] = []
    skipped: list[Skipped] = []
    first_progress = first_bundle = float("nan")
    started = time.perf_counter()
    for event in run_preprocess(settings, storage_root, worker_pool=worker_pool):
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
