"""Retention sweeps on a real (SQLite) job store and real folders, with the clock injected: each part of an
ended job's files goes after its own delay, is recorded once on the job (which stays), and is reported
as expired; jobs not ended, fresh generations and live job folders are never touched."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from shared.auth import Caller, owner_key
from shared.request.errors import DomainError
from shared.request.json_input import input_from_json
from shared.request.validate import resolve
from train_svc.api.job_messages import training_job
from train_svc.artifacts import ArtifactFinder
from train_svc.generation.store import GenerationStore
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import ArtifactWritten, FilePart, FilesRemoved, JobState, StateChanged
from train_svc.jobs.job import Job
from train_svc.jobs.sqlite_store import SqliteJobStore
from train_svc.jobs.store_contract import NewJob
from train_svc.jobs.views import JobViews
from train_svc.metrics import TrainMetrics
from train_svc.retention.files import remove_job_files
from train_svc.retention.settings import RetentionSettings
from train_svc.retention.sweep import RetentionSweep
from train_svc.retention.sweeper import start_sweeper

ENDED = datetime(2026, 11, 1, tzinfo=UTC)
ALICE = Caller("alice")
DONE, RUNNING = "a" * 16, "b" * 16


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _job_files(storage: Path, job_id: str) -> None:
    _write(storage / "jobs" / job_id / "checkpoints" / "step-100.safetensors", 1000)
    _write(storage / "jobs" / job_id / "bundles" / "clip.safetensors", 300)
    _write(storage / "datasets" / job_id / "archive.zip", 200)
    _write(storage / "jobs" / job_id / "outputs" / "lora.safetensors", 50)
    _write(storage / "jobs" / job_id / "outputs" / "previews" / "preview-step100-0.mp4", 20)


@pytest.fixture
def world(tmp_path):
    storage = tmp_path / "storage"
    store = SqliteJobStore(storage / "train_svc" / "jobs.sqlite3")
    for job_id in (DONE, RUNNING):
        first = LoggedEvent(1, ENDED - timedelta(hours=1), StateChanged(JobState.QUEUED))
        store.add_job(
            NewJob(
                job_id,
                "alice",
                "",
                {"training_data_url": "/data.zip"},
                "ltx2.3-tiny",
                ENDED - timedelta(hours=1),
                "2.3",
            ),
            first,
            None,
        )
        _job_files(storage, job_id)
    lease = store.claim("replica-a", 30.0, None)
    assert lease is not None and lease.job_id == DONE
    lora = (storage / "jobs" / DONE / "outputs" / "lora.safetensors").as_uri()
    store.append_event(DONE, LoggedEvent(2, ENDED, ArtifactWritten("lora_file", lora, "0" * 64, 50)), lease)
    store.append_event(DONE, LoggedEvent(3, ENDED, StateChanged(JobState.SUCCEEDED)), lease)
    store.release(lease)
    running = store.claim("replica-a", 30.0, None)  # held, TRAINING: never touched
    assert running is not None and running.job_id == RUNNING
    store.append_event(RUNNING, LoggedEvent(2, ENDED, StateChanged(JobState.TRAINING)), running)
    yield storage, store
    store.close()


def _sweep(storage: Path, store, days: float = 0, outputs_days: float = 0, ttl_hours: float = 0):
    settings = RetentionSettings(retain_days=days, retain_outputs_days=outputs_days, generation_ttl_hours=ttl_hours)
    return RetentionSweep(store, storage, settings)


def _job(store) -> Job:
    job = JobViews(store, lambda input_json: resolve(input_from_json(input_json))).of(store.job(DONE))
    assert job is not None
    return job


def test_working_files_then_outputs_go_after_their_delays_recorded_once_and_live_jobs_stay(world):
    storage, store = world
    sweep = _sweep(storage, store, days=7, outputs_days=30)
    assert sweep.run(ENDED + timedelta(days=6)).removed == {}
    report = sweep.run(ENDED + timedelta(days=8))
    assert {what: (r.files, r.bytes_freed) for what, r in report.removed.items()} == {"working_files": (3, 1500)}
    job_dir = storage / "jobs" / DONE
    assert not (job_dir / "checkpoints").exists() and not (job_dir / "bundles").exists()
    assert not (storage / "datasets" / DONE).exists() and (job_dir / "outputs" / "lora.safetensors").is_file()
    assert (storage / "jobs" / RUNNING / "checkpoints").is_dir() and (storage / "datasets" / RUNNING).is_dir()
    assert _sweep(storage, store, days=7, outputs_days=30).run(ENDED + timedelta(days=8)).removed == {}  # a replica
    later = sweep.run(ENDED + timedelta(days=31))
    assert {what: (r.files, r.bytes_freed) for what, r in later.removed.items()} == {"outputs": (2, 70)}
    assert not (job_dir / "outputs").exists() and (storage / "jobs" / RUNNING / "outputs").is_dir()
    tail = [logged.event for logged in store.events(DONE, after=3)]
    assert tail == [FilesRemoved(FilePart.WORKING_FILES, 1500), FilesRemoved(FilePart.OUTPUTS, 70)]
    assert sweep.run(ENDED + timedelta(days=400)).removed == {}
    assert store.job(RUNNING).last_sequence == 2


def test_an_expired_job_keeps_its_record_lists_no_gone_output_and_its_downloads_say_expired(world):
    storage, store = world
    _sweep(storage, store, outputs_days=1).run(ENDED + timedelta(days=2))
    job = _job(store)
    assert job.state is JobState.SUCCEEDED and set(job.files_removed) == {FilePart.OUTPUTS}
    message = training_job(job)
    assert message.HasField("outputs_remove_time") and not message.HasField("working_files_remove_time")
    assert not message.result.HasField("lora_file") and message.result.billable_units == 2000
    finder = ArtifactFinder(
        lambda name, caller: job, lambda j: storage / "jobs" / j.id / "outputs", GenerationStore(storage)
    )
    for artifact in ("lora_file", "preview-step100-0.mp4"):
        with pytest.raises(DomainError) as expired:
            finder.find(job.name, artifact, ALICE)
        assert (expired.value.code.name, expired.value.reason) == ("NOT_FOUND", "ARTIFACT_EXPIRED")
        assert expired.value.metadata["remove_time"] == job.files_removed[FilePart.OUTPUTS].isoformat()


def test_generated_videos_expire_after_their_time_to_live(world):
    storage, store = world
    generations = GenerationStore(storage)
    old, fresh = generations.video_path("alice", "1" * 16), generations.video_path("bob", "2" * 16)
    _write(old, 400)
    _write(fresh, 500)
    now = time.time()
    for path in (old, old.parent):
        os.utime(path, (now - 3 * 3600, now - 3 * 3600))
    report = _sweep(storage, store, ttl_hours=2).run(datetime.now(UTC))
    assert {what: (r.files, r.bytes_freed) for what, r in report.removed.items()} == {"generations": (1, 400)}
    assert not old.parent.exists() and fresh.is_file()
    assert generations.find_video("generations/" + "1" * 16, ALICE) is None
    assert (storage / "generations" / owner_key("alice")).is_dir()  # the owner's folder stays


def test_files_of_a_job_no_longer_stored_go_once_they_are_an_hour_old(world):
    storage, store = world
    orphan, recent = "c" * 16, "d" * 16
    _job_files(storage, orphan)
    _job_files(storage, recent)
    old = time.time() - 2 * 3600
    for folder in (storage / "jobs" / orphan, storage / "datasets" / orphan):
        os.utime(folder, (old, old))
    report = _sweep(storage, store, days=365).run(datetime.now(UTC))
    assert {what: r.files for what, r in report.removed.items()} == {"orphans": 5}
    assert not (storage / "jobs" / orphan).exists() and not (storage / "datasets" / orphan).exists()
    assert (storage / "jobs" / recent).is_dir() and (storage / "jobs" / DONE).is_dir()


def test_removing_a_deleted_jobs_files_counts_only_bytes_it_frees(tmp_path):
    _job_files(tmp_path, DONE)
    cached = tmp_path / "cache" / "preprocess" / "k" / "clip.safetensors"
    cached.parent.mkdir(parents=True)
    os.link(tmp_path / "jobs" / DONE / "bundles" / "clip.safetensors", cached)  # the cache's own link stays
    removed = remove_job_files(tmp_path, DONE)
    assert (removed.files, removed.bytes_freed) == (5, 1270)
    assert not (tmp_path / "jobs" / DONE).exists() and cached.read_bytes() == b"x" * 300


def test_the_service_sweeper_sweeps_at_start_counts_what_went_and_stops(world):
    storage, store = world
    assert start_sweeper(store, storage, RetentionSettings(), lambda report: None) is None  # all kept: no sweeper
    registry = CollectorRegistry()
    metrics = TrainMetrics(registry, store)
    swept = threading.Event()

    def on_sweep(report) -> None:
        metrics.swept(report)
        swept.set()

    sweeper = start_sweeper(store, storage, RetentionSettings(retain_outputs_days=1), on_sweep)
    assert sweeper is not None
    assert swept.wait(10)  # the one at start: the job ended long ago
    sweeper.stop()
    assert registry.get_sample_value("ltx_train_retention_removed_bytes_total", {"what": "outputs"}) == 70
    assert registry.get_sample_value("ltx_train_retention_removed_files_total", {"what": "outputs"}) == 2
    assert registry.get_sample_value("ltx_train_retention_removed_bytes_total", {"what": "generations"}) == 0
