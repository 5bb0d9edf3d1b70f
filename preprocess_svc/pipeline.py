"""One preprocessing run: fetch, extract, pair, then fit every media file to a bundle on a process pool.

On-disk layout under the storage root:
  datasets/<dataset_id>/archive.zip      the fetched archive (an upload is hard-linked here)
  datasets/<dataset_id>/extracted/       its data files while the run works on them (removed at its end)
  datasets/<dataset_id>/bundles/<run>/   one <safe name>.safetensors per sample, in a folder of the run's
                                         own (earlier runs' folders are removed when a run starts)
  cache/preprocess/<owner>/<key>/        finished runs, by owner, archive content and settings (dataset_cache)

The archive comes from the owner's own uploads (upload://<id>) or through fetch_archive, under the
settings' fetch policy (addresses and local folders it may read, an overall deadline) with this
storage root refused as a local source. Setting `cancel` stops a fetch within a second. Whatever way a
run ends, its extracted files go; a run that fails or is closed early also removes its archive (and any
partial download) and its bundles, so nothing of it is left but what the caller was told about.
Archive entries the extraction refuses (unsafe, over-long, duplicate or undecodable names...) are each
reported as a SkippedFile event and a SKIPPED FileReport; an archive with nothing usable left is refused
(ArchiveError NO_USABLE_ENTRY).

Cache (use_cache): right after the fetch the archive is hashed into a cache key. A hit replays the
cached run (its events, its bundles in the cache's folder) without extracting or decoding anything; a
miss runs as below while a CacheRecorder links each bundle into the cache as it is written, and
publishes the entry only when the run completes. Either way the Summary carries the cache key.

Workers are separate processes started with "spawn" (the caller is a threaded gRPC server, where
fork is unsafe): the service's warm WorkerPool, shared by its runs, or a private pool for a run
alone. Each probes, fits and writes one bundle (a video's frames go from ffmpeg into the bundle file
as they are decoded) and returns a BundleWritten or SkippedFile, which the run yields as soon as it
arrives, followed by the file's FileReport once the file is done (preprocess_svc.report). Closing the
generator cancels this run's queued files.

Scene splitting (split_input_into_scenes): a video longer than split_input_duration_threshold is
cut into shots in its worker (preprocess_svc.scenes), which returns a ShotPlan instead; the run then
queues one job per shot, so a long clip's shots are fitted in parallel. Each shot becomes a sample
"<archive path>#shot<N>" (N from 1) with the clip's caption, or a TOO_SHORT skip naming the shot.
Progress counts the shots in place of their clip: files_total grows by (shots - 1) for each split.
A clip without a cut, or no longer than the threshold, stays one sample under its archive path.

Fitting a video (or a shot) in time:
  - auto_scale_input: all of it is resampled to exactly number_of_frames frames (media.fit_resampled),
    played at frame_rate; source.time_scale says how much faster (>1) or slower (<1) it now plays.
  - otherwise it is converted to frame_rate and must give number_of_frames frames (else TOO_SHORT).
    DECISION: one window per clip (or shot), its first number_of_frames frames, under its plain id;
    the rest of a long clip is not used. One sample per clip (and per shot) is the contract the
    service already keeps; a long take that should give more samples can be cut into shots.
Every video bundle reports source.fit ("auto_scale" or "first_frames") and source.start_s /
source.end_s: the part of the clip the sample was taken from.
Audio (preprocess_svc.audio): unless with_audio is off, a video sample whose file has an audio track
carries that track's audio for the same span; a track that cannot be read leaves the sample without
audio and the run yields a DatasetWarning AUDIO_UNREADABLE just before the sample's BundleWritten.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from preprocess_svc.archive_arrival import bring_archive, source_label
from preprocess_svc.audio import AUDIO_UNREADABLE, AudioOptions
from preprocess_svc.dataset_cache import DatasetCache, cache_key
from preprocess_svc.errors import (
    ALL_CLIPS_TOO_SHORT_MESSAGE,
    ArchiveError,
    ArchiveReason,
    DatasetError,
    DatasetReason,
    SkipReason,
)
from preprocess_svc.events import BundleWritten, DatasetWarning, PreprocessEvent, Progress, SkippedFile, Summary
from preprocess_svc.extract import ExtractedArchive, extract_zip
from preprocess_svc.metrics import PipelineMetrics
from preprocess_svc.pairing import pair_media
from preprocess_svc.report import ReportBuilder, ignored_files
from preprocess_svc.sample_worker import (
    SampleJob,
    ShotPlan,
    bundle_file_name,
    process_sample,
    process_shot,
)
from preprocess_svc.settings import PreprocessSettings
from preprocess_svc.worker_pool import WorkerPool
from shared.bundle import sha256_file
from shared.dataset_report import FileOutcome, FileReport
from shared.quoting import quote

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DatasetPaths:
    root: Path
    run: str  # this run's own token: its bundles go to a folder no other run writes to

    @property
    def archive(self) -> Path:
        return self.root / "archive.zip"

    @property
    def extracted(self) -> Path:
        return self.root / "extracted"

    @property
    def all_bundles(self) -> Path:
        return self.root / "bundles"

    @property
    def bundles(self) -> Path:
        return self.all_bundles / self.run


def dataset_paths(storage_root: Path, dataset_id: str) -> DatasetPaths:
    return DatasetPaths(storage_root / "datasets" / dataset_id, secrets.token_hex(4))


def _discard_late(run_folder: Path, outcome: object) -> None:
    """What a worker finished after its run had ended early: nobody will read its bundle, and the run's
    folder (which the worker may have made again) goes once it is empty."""
    if isinstance(outcome, BundleWritten):
        outcome.path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        run_folder.rmdir()


def _no_samples_error(skipped: list[SkippedFile], settings: PreprocessSettings) -> DatasetError:
    files = sorted(s.path for s in skipped)
    reasons = Counter(s.reason for s in skipped)
    if set(reasons) == {SkipReason.TOO_SHORT.value}:
        need_s = settings.number_of_frames / settings.frame_rate
        return DatasetError(
            DatasetReason.ALL_CLIPS_TOO_SHORT,
            f"{ALL_CLIPS_TOO_SHORT_MESSAGE}: each of the {len(skipped)} clip(s) gives fewer than "
            f"{settings.number_of_frames} frames at {settings.frame_rate} fps ({need_s:.2f} s)",
            files=files,
        )
    counts = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    first = min(skipped, key=lambda s: s.path)
    return DatasetError(
        DatasetReason.NO_USABLE_MEDIA,
        f"no file of the archive gave a sample ({counts}); e.g. {quote(first.path, 100)}: {first.message}",
        files=files,
    )


def run_preprocess(
    settings: PreprocessSettings,
    storage_root: Path,
    *,
    worker_pool: WorkerPool | None = None,
    use_cache: bool = True,
    cache_max_bytes: int = 0,
    cancel: threading.Event | None = None,
    metrics: PipelineMetrics | None = None,
) -> Generator[PreprocessEvent, None, None]:
    """Run one dataset through preprocessing, yielding events (see preprocess_svc.events for the order).

    worker_pool: the service's warm pool, shared with its other runs; None makes a private pool of
    settings.workers processes for this run alone.
    use_cache: reuse (and store) finished runs by owner, archive content and settings (see above).
    cache_max_bytes: the cache's bound, kept after each commit (0: none; see dataset_cache).
    cancel: set it to stop a fetch in progress (FetchCancelled); closing the generator stops the rest.
    metrics: the service's figures (stage seconds, fetched bytes, cache lookups, files by outcome).
    Raises ArchiveError or DatasetError when the run as a whole fails, WorkerCrashed when a worker died,
    StorageFull when the volume is too full for the next large write.
    """
    paths = dataset_paths(storage_root, settings.dataset_id)
    completed = False
    try:
        cache = DatasetCache(storage_root, settings.owner, cache_max_bytes) if use_cache else None
        yield from _run(settings, storage_root, paths, worker_pool, cache, cancel, metrics)
        completed = True
    finally:
        if metrics is not None:
            metrics.runs.labels("completed" if completed else "failed").inc()
        shutil.rmtree(paths.extracted, ignore_errors=True)
        if not completed:  # failed, cancelled, or closed early: keep nothing of it
            for partial in paths.root.glob(".archive.zip*"):
                partial.unlink(missing_ok=True)
            paths.archive.unlink(missing_ok=True)
            shutil.rmtree(paths.bundles, ignore_errors=True)


def _run(
    settings: PreprocessSettings,
    storage_root: Path,
    paths: DatasetPaths,
    worker_pool: WorkerPool | None,
    cache: DatasetCache | None,
    cancel: threading.Event | None,
    metrics: PipelineMetrics | None,
) -> Generator[PreprocessEvent, None, None]:
    started = time.monotonic()
    run_log = log.bind(dataset_id=settings.dataset_id)
    for stale in (paths.extracted, paths.all_bundles):  # of earlier runs on this dataset
        shutil.rmtree(stale, ignore_errors=True)
    with _stage(metrics, "fetch"):
        bring_archive(settings, storage_root, paths.archive, cancel)
    if metrics is not None:
        fetched = paths.archive.stat().st_size
        metrics.fetched_bytes.labels(source_label(settings.training_data_url)).inc(fetched)
    if cache is None:
        yield from _process(settings, paths, worker_pool, started, metrics)
        return
    with _stage(metrics, "hash"):
        key = cache_key(sha256_file(paths.archive), settings)
    run_log = run_log.bind(cache_key=key)
    hit = cache.lookup(key)
    if metrics is not None:
        metrics.cache_lookups.labels("hit" if hit is not None else "miss").inc()
    if hit is not None:
        run_log.info("preprocess_cache_hit", samples=hit.samples, files_skipped=hit.files_skipped)
        try:  # the entry is held (never evicted) until the replay ends
            with _stage(metrics, "replay"):
                yield from hit.events
            yield hit.summary(time.monotonic() - started)
        finally:
            hit.release()
        return
    run_log.info("preprocess_cache_miss")
    recorder = cache.recorder(key)
    run = _process(settings, paths, worker_pool, started, metrics)
    try:
        for event in run:
            if isinstance(event, Summary):
                recorder.commit(event)  # before the Summary goes out: a consumer may stop once it has it
                cache.evict()
                yield replace(event, cache_key=key)
            else:
                recorder.record(event)  # links a bundle into the cache before delivery can delete it
                yield event
    finally:
        run.close()  # an early close or a failure: cancel this run's queued files now
        recorder.discard()  # a run that did not complete leaves no entry


def _entry_skips(extracted: ExtractedArchive) -> Iterator[PreprocessEvent]:
    """Each refused archive entry as a SkippedFile event and its SKIPPED report; none usable: the archive fails."""
    for entry in extracted.skipped:
        yield SkippedFile(path=entry.path, reason=entry.reason, message=entry.message)
        yield FileReport(path=entry.path, outcome=FileOutcome.SKIPPED, reason=entry.reason, message=entry.message)
    if extracted.skipped and not extracted.paths:
        first = extracted.skipped[0]
        raise ArchiveError(
            ArchiveReason.NO_USABLE_ENTRY,
            f"no entry of the archive can be extracted: all {len(extracted.skipped)} were refused, e.g. "
            f"{quote(first.path, 100)}: {first.reason} ({first.message})",
        )


@contextlib.contextmanager
def _stage(metrics: PipelineMetrics | None, name: str) -> Iterator[None]:
    if metrics is None:
        yield
        return
    with metrics.stage(name):
        yield


def _process(
    settings: PreprocessSettings,
    paths: DatasetPaths,
    worker_pool: WorkerPool | None,
    started: float,
    metrics: PipelineMetrics | None = None,
) -> Generator[PreprocessEvent, None, None]:
    """`_fit`, each file's report counted in `metrics` by outcome."""
    for event in _fit(settings, paths, worker_pool, started, metrics):
        if metrics is not None and isinstance(event, FileReport):
            metrics.files.labels(event.outcome.value).inc()
        yield event


def _fit(
    settings: PreprocessSettings,
    paths: DatasetPaths,
    worker_pool: WorkerPool | None,
    started: float,
    metrics: PipelineMetrics | None,
) -> Generator[PreprocessEvent, None, None]:
    """Extract the fetched archive, pair it, and fit every media file to a bundle on the worker pool."""
    run_log = log.bind(dataset_id=settings.dataset_id)
    with _stage(metrics, "extract"):
        extracted = extract_zip(
            paths.archive,
            paths.extracted,
            max_uncompressed_bytes=settings.max_uncompressed_bytes,
            max_entries=settings.max_entries,
            space=settings.space,
        )
    yield from _entry_skips(extracted)
    with _stage(metrics, "pair"):
        dataset = pair_media(paths.extracted, settings.trigger_phrase)
    run_log.info("dataset_paired", media_kind=dataset.kind, files=len(dataset.samples), warnings=len(dataset.warnings))
    yield from dataset.warnings
    yield from ignored_files(dataset.warnings)
    report = ReportBuilder(dataset.samples)

    audio = (
        AudioOptions(normalize=settings.audio_normalize, preserve_pitch=settings.audio_preserve_pitch)
        if settings.with_audio
        else None
    )
    jobs = [
        SampleJob(
            sample=sample,
            bundle_path=paths.bundles / bundle_file_name(sample.sample_id),
            frames=settings.number_of_frames,
            frame_rate=settings.frame_rate,
            width=settings.width,
            height=settings.height,
            timeout_base_s=settings.decode_timeout_base_s,
            timeout_per_second_s=settings.decode_timeout_per_clip_second_s,
            split_threshold_s=settings.split_input_duration_threshold if settings.split_input_into_scenes else None,
            auto_scale=settings.auto_scale_input,
            audio=audio,
            space=settings.space,
        )
        for sample in dataset.samples
    ]
    total = len(jobs)
    written = 0
    skipped: list[SkippedFile] = []
    yield Progress(files_total=total, files_done=0, samples_written=0, files_skipped=0)

    # A private pool starts its workers on demand, so sizing it for the shots of split clips costs
    # nothing when there are none.
    process_pool = worker_pool or WorkerPool(settings.workers)
    pool = process_pool.run()
    pending: set[Future[BundleWritten | SkippedFile | ShotPlan]] = set()
    finished = False
    fitting_started = time.perf_counter()
    try:
        pending = {pool.submit(process_sample, job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                if isinstance(outcome, ShotPlan):
                    # The clip's place in the count goes to its shots, each of which ends written or skipped.
                    total += len(outcome.shots) - 1
                    report.split(outcome)
                    pending |= {pool.submit(process_shot, shot) for shot in outcome.shots}
                    run_log.info(
                        "clip_split",
                        path=outcome.sample_id,
                        shots=len(outcome.shots),
                        cuts_s=[round(cut, 3) for cut in outcome.shots[0].cuts_s],
                    )
                    continue
                if isinstance(outcome, BundleWritten):
                    written += 1
                    run_log.info(
                        "sample_written", sample_id=outcome.sample_id, path=str(outcome.path), audio=outcome.has_audio
                    )
                    if outcome.audio_problem:
                        yield DatasetWarning(
                            outcome.source_path,
                            AUDIO_UNREADABLE,
                            f"{outcome.sample_id} is kept without audio: its audio track cannot be used "
                            f"({outcome.audio_problem})",
                        )
                else:
                    skipped.append(outcome)
                    run_log.info("file_skipped", path=outcome.path, reason=outcome.reason, detail=outcome.message)
                yield outcome
                yield Progress(
                    files_total=total,
                    files_done=written + len(skipped),
                    samples_written=written,
                    files_skipped=len(skipped),
                )
                file_report = report.outcome(outcome)
                if file_report is not None:
                    yield file_report
        finished = True
    finally:
        # On an early close or a failure, drop this run's queued files instead of waiting for them (a
        # shared pool's other runs keep theirs); the files already in a worker finish there, unseen, and
        # what they write is removed.
        pool.cancel_pending(None if finished else functools.partial(_discard_late, paths.bundles))
        if worker_pool is None:
            process_pool.shutdown(wait=finished)
        if metrics is not None:
            metrics.stage_seconds.labels("samples").observe(time.perf_counter() - fitting_started)

    if written == 0:
        raise _no_samples_error(skipped, settings)
    wall = time.monotonic() - started
    run_log.info("dataset_preprocessed", samples=written, files_skipped=len(skipped), wall_seconds=round(wall, 3))
    yield Summary(media_kind=dataset.kind, samples=written, files_skipped=len(skipped), wall_seconds=wall)
