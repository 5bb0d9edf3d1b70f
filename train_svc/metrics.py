"""train_svc's Prometheus figures (one set per service instance, on its own registry).

Jobs by state and the queue depth are read from the job store at each scrape (one GROUP BY query), so
they count every job of the store: with several replicas on one store each reports the same figures
(aggregate them with max, not sum). Everything else is what this replica did or holds: steps it trained,
latent cache lookups of the jobs it ran, its watchers, its device memory, what its retention sweeps removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from train_svc.jobs.events import JobEvent, JobState, SampleEncoded, StepCompleted
from train_svc.jobs.job import Job
from train_svc.jobs.manager import Runner
from train_svc.jobs.store_contract import JobStore
from train_svc.retention.sweep import SweepReport

log = structlog.get_logger(__name__)

STEP_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
WATCH_RPCS = ("WatchTrainingJob", "WatchTrainingJobs")
RETENTION_PARTS = ("working_files", "outputs", "generations", "orphans")  # what SweepReport counts


class JobCounts(Collector):
    """`ltx_train_jobs{state}` and `ltx_train_queue_depth_jobs`, from the store at scrape time."""

    def __init__(self, store: JobStore):
        self._store = store

    def describe(self) -> Iterable[Metric]:
        return [self._jobs(), self._queue()]

    @staticmethod
    def _jobs() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "ltx_train_jobs",
            "jobs in the job store, by state (store-wide: every replica reports the same)",
            labels=["state"],
        )

    @staticmethod
    def _queue() -> GaugeMetricFamily:
        return GaugeMetricFamily("ltx_train_queue_depth_jobs", "jobs waiting to be claimed (QUEUED) in the job store")

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._store.state_counts()
        except Exception as exc:  # the store is unreachable: the scrape goes on without these two
            log.warning("metrics_job_counts_failed", error=str(exc))
            return
        jobs = self._jobs()
        for state in JobState:
            jobs.add_metric([state.value], counts.get(state, 0))
        yield jobs
        queue = self._queue()
        queue.add_metric([], counts.get(JobState.QUEUED, 0))
        yield queue


class CudaMemory(Collector):
    """`ltx_train_cuda_memory_allocated_bytes{device}`: torch's allocated memory on each CUDA device."""

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "ltx_train_cuda_memory_allocated_bytes",
            "device memory held by this process's tensors (torch.cuda.memory_allocated), by device",
            labels=["device"],
        )

    def collect(self) -> Iterator[Metric]:
        import torch

        family = self._family()
        for index in range(torch.cuda.device_count()):
            family.add_metric([f"cuda:{index}"], torch.cuda.memory_allocated(index))
        yield family


class TrainMetrics:
    def __init__(self, registry: CollectorRegistry, store: JobStore, *, cuda: bool = False):
        self._registry = registry
        registry.register(JobCounts(store))
        if cuda:
            registry.register(CudaMemory())
        self.jobs_running = Gauge("ltx_train_jobs_running", "jobs this replica is running now", registry=registry)
        self.step_seconds = Histogram(
            "ltx_train_step_seconds",
            "seconds of one optimizer step, of the jobs this replica runs",
            buckets=STEP_SECONDS_BUCKETS,
            registry=registry,
        )
        self.samples = Counter(
            "ltx_train_samples", "training samples processed by optimizer steps on this replica", registry=registry
        )
        self.samples_per_second = Gauge(
            "ltx_train_samples_per_second",
            "samples per second of the latest optimizer step this replica trained (batch size / step seconds)",
            registry=registry,
        )
        self.latent_cache = Counter(
            "ltx_train_latent_cache_lookups",
            "latent cache lookups of the samples of the jobs this replica runs, by result (hit, miss)",
            ["result"],
            registry=registry,
        )
        self.watchers = Gauge(
            "ltx_train_watchers", "watch streams open on this replica, by RPC", ["rpc"], registry=registry
        )
        self.watchers_cut_off = Counter(
            "ltx_train_watchers_cut_off",
            "watch streams ended WATCHER_TOO_SLOW (they accepted nothing for --watch-write-timeout), by RPC",
            ["rpc"],
            registry=registry,
        )
        self.watch_events_dropped = Counter(
            "ltx_train_watch_events_dropped",
            "events not delivered to watchers cut off as too slow (a job watch: the job's events after the last "
            "one sent; a collection watch: the change being written), by RPC",
            ["rpc"],
            registry=registry,
        )
        self.retention_bytes = Counter(
            "ltx_train_retention_removed_bytes",
            "bytes retention sweeps of this replica freed, by what (working_files, outputs, generations, orphans)",
            ["what"],
            registry=registry,
        )
        self.retention_files = Counter(
            "ltx_train_retention_removed_files",
            "files retention sweeps of this replica removed, by what",
            ["what"],
            registry=registry,
        )
        for what in RETENTION_PARTS:
            self.retention_bytes.labels(what)
            self.retention_files.labels(what)
        for result in ("hit", "miss"):
            self.latent_cache.labels(result)
        for rpc in WATCH_RPCS:
            self.watchers.labels(rpc)
            self.watchers_cut_off.labels(rpc)
            self.watch_events_dropped.labels(rpc)

    def observer(self, batch_size: int) -> Callable[[JobEvent], None]:
        """What a job run here calls with each event it records (Job.observe)."""

        def observe(event: JobEvent) -> None:
            if isinstance(event, StepCompleted):
                self.step_seconds.observe(event.step_seconds)
                self.samples.inc(batch_size)
                if event.step_seconds > 0:
                    self.samples_per_second.set(batch_size / event.step_seconds)
            elif isinstance(event, SampleEncoded):
                self.latent_cache.labels("hit" if event.from_cache else "miss").inc()

        return observe

    def watch_pipeline(self, pipeline_bytes: Callable[[], int]) -> None:
        """`ltx_train_generation_pipeline_bytes`: the generation pipeline this replica holds (0: none loaded)."""
        gauge = Gauge(
            "ltx_train_generation_pipeline_bytes",
            "parameter and buffer bytes of the generation pipeline loaded on this replica (0: none loaded; it is "
            "dropped after --pipeline-idle-seconds without a generation)",
            registry=self._registry,
        )
        gauge.set_function(pipeline_bytes)

    def swept(self, report: SweepReport) -> None:
        for what, removed in report.removed.items():
            self.retention_bytes.labels(what).inc(removed.bytes_freed)
            self.retention_files.labels(what).inc(removed.files)

    def cut_off(self, rpc: str, dropped: int) -> None:
        self.watchers_cut_off.labels(rpc).inc()
        self.watch_events_dropped.labels(rpc).inc(max(dropped, 1))


class MeasuredRunner:
    """A Runner whose jobs report their events to `metrics` while they run here."""

    def __init__(self, runner: Runner, metrics: TrainMetrics):
        self._runner = runner
        self._metrics = metrics

    def run(self, job: Job) -> None:
        job.observe = self._metrics.observer(int(getattr(job.settings, "batch_size", None) or 1))
        self._metrics.jobs_running.inc()
        try:
            self._runner.run(job)
        finally:
            self._metrics.jobs_running.dec()
