"""preprocess_svc's Prometheus figures (one set per service instance, on its own registry).

The pipeline reports through `PipelineMetrics` alone (stage timings, fetched bytes, cache lookups,
finished files); a run without metrics (the CLI's tools, tests) passes none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

STAGE_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Stages, in a run's order: fetch (download, local copy or upload link), hash (the cache key over the
# archive), replay (a cache hit's events), extract, pair (media with captions), samples (every file fitted
# on the worker processes: probe, scene detection, decode, bundle write).
STAGES = ("fetch", "hash", "replay", "extract", "pair", "samples")
FETCH_SOURCES = ("http", "local", "upload")
FILE_OUTCOMES = ("USED", "SKIPPED", "IGNORED")


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.files = Counter(
            "ltx_preprocess_files",
            "archive files a run finished with, by outcome (USED, SKIPPED, IGNORED; cache replays not counted)",
            ("outcome",),
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "ltx_preprocess_stage_seconds",
            "seconds a preprocessing stage took, by stage",
            ("stage",),
            buckets=STAGE_SECONDS_BUCKETS,
            registry=registry,
        )
        self.fetched_bytes = Counter(
            "ltx_preprocess_fetched_bytes",
            "archive bytes brought to storage for runs, by source (http, local, upload)",
            ("source",),
            registry=registry,
        )
        self.cache_lookups = Counter(
            "ltx_preprocess_cache_lookups",
            "preprocess cache lookups, by result (hit, miss)",
            ("result",),
            registry=registry,
        )
        self.runs = Counter(
            "ltx_preprocess_runs",
            "preprocessing runs ended, by result (completed, failed: a failure, cancel or early close)",
            ("result",),
            registry=registry,
        )
        for stage in STAGES:  # every series exists from the start (0 until it happens)
            self.stage_seconds.labels(stage)
        for source in FETCH_SOURCES:
            self.fetched_bytes.labels(source)
        for outcome in FILE_OUTCOMES:
            self.files.labels(outcome)
        for result in ("hit", "miss"):
            self.cache_lookups.labels(result)
        for result in ("completed", "failed"):
            self.runs.labels(result)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as `name` (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(name).observe(time.perf_counter() - started)
