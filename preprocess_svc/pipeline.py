"""One preprocessing run: fetch, extract, pair, then fit every media file to a bundle on a process pool.

On-disk layout under the storage root:
  datasets/<dataset_id>/archive.zip      the fetched archive
  datasets/<dataset_id>/extracted/       its data files (re-created by every run)
  datasets/<dataset_id>/bundles/         one <safe name>.safetensors per sample (re-created by every run)

Workers are separate processes started with "spawn" (the caller is a threaded gRPC server, where
fork is unsafe); each probes, fits and writes one bundle and returns a BundleWritten or Skipped,
which the run yields as soon as it arrives. Closing the generator cancels the queued files.

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
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from preprocess_svc.archive import extract_zip, fetch_archive
from preprocess_svc.errors import (
    ALL_CLIPS_TOO_SHORT_MESSAGE,
    DatasetError,
    DatasetReason,
    SkipReason,
    UnusableMediaError,
)
from preprocess_svc.events import BundleWritten, PreprocessEvent, Progress, Skipped, Summary
from preprocess_svc.media import (
    MediaInfo,
    TimeRange,
    decode_timeout_s,
    fit_image,
    fit_resampled,
    fit_video,
    probe,
)
from preprocess_svc.pairing import MediaSample, pair_media
from preprocess_svc.scenes import Shot, detect_shots, fit_shot, shot_time_range
from preprocess_svc.settings import PreprocessSettings
from shared.bundle import SampleBundle, write_bundle

log = structlog.get_logger(__name__)

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class DatasetPaths:
    root: Path

    @property
    def archive(self) -> Path:
        return self.root / "archive.zip"

    @property
    def extracted(self) -> Path:
        return self.root / "extracted"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"


def dataset_paths(storage_root: Path, dataset_id: str) -> DatasetPaths:
    return DatasetPaths(storage_root / "datasets" / dataset_id)


def bundle_file_name(sample_id: str) -> str:
    """A readable file name for a sample's bundle, unique per sample id (a hash of the id is appended)."""
    readable = _UNSAFE_NAME_CHARS.sub("_", sample_id.replace("/", "__")).strip("._")[:80]
    digest = hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:12]
    return f"{readable}-{digest}.safetensors"


@dataclass(frozen=True)
class SampleJob:
    """Everything a worker process needs to turn one media file into a bundle, or into shots."""

    sample: MediaSample
    bundle_path: Path
    frames: int
    frame_rate: int
    width: int
    height: int
    timeout_base_s: float
    timeout_per_second_s: float
    split_threshold_s: float | None  # videos longer than this are cut into shots; None: never
    auto_scale: bool = False  # resample each video (or shot) to exactly `frames` frames instead of cutting it


@dataclass(frozen=True)
class ShotJob:
    """One shot of a split clip, fitted to a bundle of its own by a worker process."""

    clip: SampleJob
    info: MediaInfo
    number: int  # from 1
    shot: Shot
    cuts_s: tuple[float, ...]  # every cut of the clip, in seconds

    @property
    def sample_id(self) -> str:
        return shot_sample_id(self.clip.sample.sample_id, self.number)


@dataclass(frozen=True)
class ShotPlan:
    """A clip that was cut into shots: one ShotJob per shot, to be fitted in parallel."""

    sample_id: str
    shots: list[ShotJob]


def shot_sample_id(clip_sample_id: str, number: int) -> str:
    """The sample id of a clip's number-th shot (from 1), e.g. set_a/long.mp4#shot2."""
    return f"{clip_sample_id}#shot{number}"


def _span_metadata(fit: str, start_s: float, end_s: float) -> dict[str, str]:
    """source.* additions naming how a video sample was fitted and the part of the clip it covers."""
    return {"fit": fit, "start_s": f"{start_s:.6g}", "end_s": f"{end_s:.6g}"}


def _auto_scale(
    job: SampleJob, info: MediaInfo, *, source_frames: int, start_s: float, time_range: TimeRange | None, label: str
) -> tuple[np.ndarray, dict[str, str]]:
    """Resample all of a clip, or of its time range, to job.frames frames: (pixels, source.* additions)."""
    span_s = info.duration_s if time_range is None else time_range.duration_s
    pixels, decoded = fit_resampled(
        job.sample.path,
        source_frames=source_frames,
        frames=job.frames,
        width=job.width,
        height=job.height,
        timeout_s=job.timeout_base_s + job.timeout_per_second_s * span_s,
        time_range=time_range,
        label=label,
    )
    # The span the decoded frames cover, at the source rate when it is known.
    covered_s = decoded / info.fps if info.fps > 0 else span_s
    return pixels, {
        **_span_metadata("auto_scale", start_s, start_s + covered_s),
        "source_frames": str(decoded),
        "time_scale": f"{covered_s / (job.frames / job.frame_rate):.6g}",
    }


def _write_sample(
    bundle_path: Path, sample_id: str, sample: MediaSample, pixels: np.ndarray, frame_rate: int, source: dict[str, str]
) -> BundleWritten:
    bundle = SampleBundle(
        sample_id=sample_id,
        frames=pixels,
        fps=float(frame_rate),
        caption=sample.caption,
        source_path=sample.sample_id,
        source=source,
    )
    written = write_bundle(bundle_path, bundle)
    return BundleWritten(
        sample_id=bundle.sample_id,
        path=written.path,
        uri=written.uri,
        sha256=written.sha256,
        size_bytes=written.size_bytes,
        frames=bundle.num_frames,
        height=bundle.height,
        width=bundle.width,
        fps=bundle.fps,
        caption=bundle.caption,
        source_path=bundle.source_path,
    )


def _plan_shots(job: SampleJob, info: MediaInfo) -> ShotPlan | None:
    """Cut a long clip into shots; None when splitting is off, the clip is short, or it has no cut."""
    if job.split_threshold_s is None or info.duration_s <= job.split_threshold_s:
        return None
    timeout = job.timeout_base_s + job.timeout_per_second_s * info.duration_s
    shots = detect_shots(job.sample.path, info, timeout_s=timeout)
    if len(shots) < 2:
        return None
    cuts_s = tuple(shot.start_s for shot in shots[1:])
    return ShotPlan(
        sample_id=job.sample.sample_id,
        shots=[
            ShotJob(clip=job, info=info, number=number, shot=shot, cuts_s=cuts_s)
            for number, shot in enumerate(shots, start=1)
        ],
    )


def process_sample(job: SampleJob) -> BundleWritten | Skipped | ShotPlan:
    """Probe one sample, then fit and write it, or cut it into shots for process_shot (runs in a worker process)."""
    sample = job.sample
    extra: dict[str, str] = {}
    try:
        info = probe(sample.path)
        if sample.kind == "video":
            plan = _plan_shots(job, info)
            if plan is not None:
                return plan
        if sample.kind == "video" and job.auto_scale:
            pixels, extra = _auto_scale(
                job, info, source_frames=info.frame_count, start_s=0.0, time_range=None, label="the clip"
            )
        elif sample.kind == "video":
            extra = _span_metadata("first_frames", 0.0, job.frames / job.frame_rate)
            timeout = decode_timeout_s(
                info,
                frames=job.frames,
                frame_rate=job.frame_rate,
                base_s=job.timeout_base_s,
                per_second_s=job.timeout_per_second_s,
            )
            pixels = fit_video(
                sample.path,
                info,
                frames=job.frames,
                frame_rate=job.frame_rate,
                width=job.width,
                height=job.height,
                timeout_s=timeout,
            )
        else:
            pixels = fit_image(sample.path, width=job.width, height=job.height, timeout_s=job.timeout_base_s)
    except UnusableMediaError as exc:
        return Skipped(path=sample.sample_id, reason=exc.reason.value, message=exc.message)
    source = {**info.as_source_metadata(), **extra}
    return _write_sample(job.bundle_path, sample.sample_id, sample, pixels, job.frame_rate, source)


def process_shot(job: ShotJob) -> BundleWritten | Skipped:
    """Fit and write one shot of a split clip (runs in a worker process)."""
    clip, shot = job.clip, job.shot
    label = f"shot {job.number} of {len(job.cuts_s) + 1}"
    source = {
        **job.info.as_source_metadata(),
        "shot_start_s": f"{shot.start_s:.6g}",
        "shot_end_s": f"{shot.end_s:.6g}",
        "cuts_s": ",".join(f"{cut:.6g}" for cut in job.cuts_s),
    }
    try:
        if clip.auto_scale:
            pixels, extra = _auto_scale(
                clip,
                job.info,
                source_frames=shot.end_frame - shot.start_frame,
                start_s=shot.start_s,
                time_range=shot_time_range(shot),
                label=label,
            )
            source |= extra
        else:
            source |= _span_metadata("first_frames", shot.start_s, shot.start_s + clip.frames / clip.frame_rate)
            pixels = fit_shot(
                clip.sample.path,
                shot,
                label=label,
                frames=clip.frames,
                frame_rate=clip.frame_rate,
                width=clip.width,
                height=clip.height,
                timeout_s=clip.timeout_base_s
                + clip.timeout_per_second_s * min(shot.end_s - shot.start_s, clip.frames / clip.frame_rate),
            )
    except UnusableMediaError as exc:
        return Skipped(path=job.sample_id, reason=exc.reason.value, message=exc.message)
    bundle_path = clip.bundle_path.parent / bundle_file_name(job.sample_id)
    return _write_sample(bundle_path, job.sample_id, clip.sample, pixels, clip.frame_rate, source)


def _no_samples_error(skipped: list[Skipped], settings: PreprocessSettings) -> DatasetError:
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
        f"no file of the archive gave a sample ({counts}); e.g. {first.path!r}: {first.message}",
        files=files,
    )


def run_preprocess(settings: PreprocessSettings, storage_root: Path) -> Iterator[PreprocessEvent]:
    """Run one dataset through preprocessing, yielding events (see preprocess_svc.events for the order).

    Raises ArchiveError or DatasetError when the run as a whole fails.
    """
    started = time.monotonic()
    paths = dataset_paths(storage_root, settings.dataset_id)
    run_log = log.bind(dataset_id=settings.dataset_id)
    for stale in (paths.extracted, paths.bundles):
        shutil.rmtree(stale, ignore_errors=True)
    fetch_archive(
        settings.training_data_url,
        paths.archive,
        max_bytes=settings.max_archive_bytes,
        connect_timeout_s=settings.http_connect_timeout_s,
        read_timeout_s=settings.http_read_timeout_s,
    )
    extract_zip(
        paths.archive,
        paths.extracted,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_entries=settings.max_entries,
    )
    dataset = pair_media(paths.extracted, settings.trigger_phrase)
    run_log.info("dataset_paired", media_kind=dataset.kind, files=len(dataset.samples), warnings=len(dataset.warnings))
    yield from dataset.warnings

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
        )
        for sample in dataset.samples
    ]
    total = len(jobs)
    written = 0
    skipped: list[Skipped] = []
    yield Progress(files_total=total, files_done=0, samples_written=0, files_skipped=0)

    # A spawn-context pool starts its workers on demand, so sizing it for the shots of split clips
    # costs nothing when there are none.
    pool = ProcessPoolExecutor(max_workers=settings.workers, mp_context=multiprocessing.get_context("spawn"))
    pending: set[Future[BundleWritten | Skipped | ShotPlan]] = set()
    finished = False
    try:
        pending = {pool.submit(process_sample, job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                if isinstance(outcome, ShotPlan):
                    # The clip's place in the count goes to its shots, each of which ends written or skipped.
                    total += len(outcome.shots) - 1
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
                    run_log.info("sample_written", sample_id=outcome.sample_id, path=str(outcome.path))
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
        finished = True
    finally:
        # On an early close or a failure, drop the queued files instead of waiting for them. The futures
        # are cancelled here too: once this frame is gone the executor can be collected before its
        # manager thread acts on cancel_futures, and it would then run the whole queue.
        for future in pending:
            future.cancel()
        pool.shutdown(wait=finished, cancel_futures=True)

    if written == 0:
        raise _no_samples_error(skipped, settings)
    wall = time.monotonic() - started
    run_log.info("dataset_preprocessed", samples=written, files_skipped=len(skipped), wall_seconds=round(wall, 3))
    yield Summary(media_kind=dataset.kind, samples=written, files_skipped=len(skipped), wall_seconds=wall)
