"""The job store keeps a job's request and every event; a job rebuilt from it is the job that was recorded."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.auth import Caller
from shared.bundle_ref import BundleRef
from shared.dataset_report import FileOutcome, FileReport, PartSkipped, SampleFacts, SourceFacts
from train_svc.jobs.event_codec import EVENT_TYPES, decode_event, encode_event
from train_svc.jobs.event_log import EventLog, LoggedEvent
from train_svc.jobs.events import (
    ArtifactWritten,
    CheckpointWritten,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    FilePart,
    FilesRemoved,
    JobError,
    JobResumed,
    JobState,
    SampleEncoded,
    SkippedFile,
    StateChanged,
    StepCompleted,
    ValidationPreview,
)
from train_svc.jobs.job import Job
from train_svc.jobs.sqlite_store import SqliteJobStore
from train_svc.jobs.store_contract import Lease, NewJob, StoreError

BUNDLE = BundleRef("a.mp4", "file:///s/a.safetensors", "ab" * 32, 123, 9, 64, 96, 24.0, "a cat", "a.mp4", True)
ARTIFACT = ArtifactWritten("lora_file", "file:///s/lora.safetensors", "cd" * 32, 456)
REPORT = FileReport(
    path="a.mp4",
    outcome=FileOutcome.USED,
    media_kind="video",
    caption_path="a.txt",
    caption_found=True,
    source=SourceFacts(640, 360, 640, 360, 30.0, 2.5, 75, "h264", 0, True),
    scene_cuts_s=(1.25,),
    samples=(SampleFacts("a.mp4", 9, 24.0, 96, 64, "first_frames", 0.0, 0.375, audio_fit="cut", audio_gain=1.5),),
    skipped_parts=(PartSkipped("a.mp4#shot2", "TOO_SHORT", "2 frames"),),
)
EVENTS = [
    StateChanged(JobState.QUEUED, "waiting"),
    StateChanged(JobState.PREPROCESSING, "fetching"),
    DatasetProgress(1, 0, 0, 0),
    SkippedFile("b.mov", "UNREADABLE", "not a video"),
    DatasetWarning("c.mp4", "NO_AUDIO_TRACK", "silent"),
    REPORT,
    SampleEncoded(BUNDLE, 96, from_cache=True),
    DatasetReady("video", 1, 1, from_cache=True, cache_key="ef" * 32),
    StateChanged(JobState.TRAINING, "training", with_audio=True, training_mode="video + audio"),
    StepCompleted(1, 100, 0.5, 2e-4, 0.1, 9.9, 0.3, 0.2),
    CheckpointWritten(1, "file:///s/step-000001.pt", 789),
    ValidationPreview(
        1, 0, "a dog", 42, 1.5, ArtifactWritten("preview", "file:///p.mp4", "01" * 32, 9), (b"\xff\xd8", b"")
    ),
    JobResumed(1, 3, "the service restarted"),
    ARTIFACT,
    StateChanged(JobState.FAILED, "boom", JobError("INTERNAL", "INTERNAL_ERROR", "boom", ("x", "y"))),
]
AFTER_END = [FilesRemoved(FilePart.OUTPUTS, 70)]  # retention's, stored by the store itself after the end


@dataclasses.dataclass(frozen=True)
class Settings:
    number_of_steps: int = 100
    billable_units_on_success: int = 100
    batch_size: int | None = None


def test_every_event_type_survives_the_codec_unchanged():
    assert {type(e).__name__ for e in EVENTS + AFTER_END} == set(EVENT_TYPES)
    for event in EVENTS + AFTER_END:
        assert decode_event(*encode_event(event)) == event


def test_an_event_stored_under_a_former_type_name_still_reads():
    payload = '{"path":"b.mov","reason":"UNREADABLE","message":"not a video"}'
    assert decode_event("FileSkipped", payload) == SkippedFile("b.mov", "UNREADABLE", "not a video")


def _stored(store: SqliteJobStore, job_id: str = "j1", owner: str = "alice") -> Lease:
    """A job stored with its first event (QUEUED), claimed: the lease to record the rest under."""
    created = datetime(2026, 12, 1, tzinfo=UTC)
    new = NewJob(job_id, owner, "r1", {"rank": 8, "training_data_url": "x.zip"}, "ltx2.3-tiny", created, "2.3")
    store.add_job(new, LoggedEvent(1, created, EVENTS[0]), None)
    lease = store.claim("replica", 30.0, None)
    assert lease is not None and lease.job_id == job_id
    return lease


def _restored(store: SqliteJobStore, lease: Lease) -> Job:
    return Job.restore(
        store.events("j1"),
        lambda item: store.append_event("j1", item, lease),
        id="j1",
        owner="alice",
        settings=Settings(),
        input_json={},
        base_model="m",
        base_version="2.3",
    )


def _recorded(store: SqliteJobStore, lease: Lease, events) -> Job:
    job = _restored(store, lease)
    for event in events:
        job.record(event)
    return job


def test_a_job_rebuilt_from_the_store_after_a_restart_is_the_job_recorded(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    store = SqliteJobStore(path)
    lease = _stored(store)
    original = _recorded(store, lease, EVENTS[1:-3])  # stopped while TRAINING
    store.close()

    reopened = SqliteJobStore(path)
    again = reopened.job("j1")
    assert again is not None and again.state is JobState.TRAINING and again.last_sequence == len(EVENTS) - 3
    logged = reopened.events("j1")
    assert [item.event for item in logged] == EVENTS[:-3]
    fields = {"id": "j1", "owner": "alice", "settings": Settings(), "input_json": {}}
    job = Job.restore(logged, lambda item: None, **fields, base_model="m", base_version="2.3")
    assert job.state is JobState.TRAINING and job.resuming and not job.log.closed
    assert (job.step, job.samples, job.with_audio, job.training_mode) == (1, 1, True, "video + audio")
    assert job.file_reports == original.file_reports and job.previews == original.previews
    assert job.dataset_ready == EVENTS[7] and job.checkpoints == [EVENTS[10]]
    relaunched = reopened.claim("replica-2", 30.0, None)
    assert relaunched is not None and relaunched.job_id == "j1", "the former owner's lease ended with it"


def test_a_resuming_job_drops_what_its_log_already_holds_and_numbers_the_rest_on(tmp_path):
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    lease = _stored(store)
    _recorded(store, lease, EVENTS[1:10])
    job = _restored(store, lease)
    assert job.record(StateChanged(JobState.TRAINING, "training again")) is None
    assert job.record(StepCompleted(1, 100, 0.5, 2e-4, 0.2, 9.0, 0.3, 0.2)) is None
    assert job.record(REPORT) is None and job.record(SampleEncoded(BUNDLE, 96, from_cache=False)) is None
    resumed = job.record(JobResumed(1, 1, "again"))
    step = job.record(StepCompleted(2, 100, 0.4, 2e-4, 0.2, 9.0, 0.2, 0.2))
    assert (resumed.sequence, step.sequence) == (11, 12)
    assert [item.sequence for item in store.events("j1")] == list(range(1, 13))


def test_a_finished_job_is_restored_closed_and_not_resumed(tmp_path):
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    lease = _stored(store)
    _recorded(store, lease, EVENTS[1:])
    job = _restored(store, lease)
    assert job.state is JobState.FAILED and job.log.closed and not job.resuming
    assert job.error == EVENTS[-1].error


def test_a_store_of_schema_1_is_upgraded_in_place_its_jobs_belonging_to_local_with_their_state(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE jobs (id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, request_id TEXT UNIQUE,
            input_json TEXT NOT NULL, base_model TEXT NOT NULL, create_time TEXT NOT NULL);
        CREATE TABLE events (job_id TEXT NOT NULL REFERENCES jobs(id), sequence INTEGER NOT NULL,
            time TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (job_id, sequence))
            WITHOUT ROWID;
        INSERT INTO jobs VALUES ('j1', 1, 'r1', '{"rank": 8}', 'm', '2026-12-01T00:00:00+00:00');
        """
    )
    for sequence, event in enumerate(EVENTS[:2], start=1):
        kind, payload = encode_event(event)
        old.execute("INSERT INTO events VALUES ('j1', ?, '2026-12-01T00:00:01+00:00', ?, ?)", (sequence, kind, payload))
    old.close()

    store = SqliteJobStore(path)
    job = store.job("j1")
    assert job is not None
    assert (job.id, job.owner, job.request_id, job.input_json) == ("j1", "local", "r1", {"rank": 8})
    assert (job.state, job.last_sequence) == (JobState.PREPROCESSING, 2), "filled in from its events"
    assert job.base_version == "2.3", "every job stored before versions were recorded trained on LTX-2.3"
    assert [item.event for item in store.events("j1")] == EVENTS[:2]
    lease = store.claim("replica", 30.0, None)
    assert lease is not None
    store.append_event("j1", LoggedEvent(3, datetime(2026, 12, 2, tzinfo=UTC), EVENTS[2]), lease)  # foreign key holds
    assert store._db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)


def _lock_is_free(path: Path) -> bool:
    with open(path.with_name(path.name + ".owner"), "a") as owner:
        try:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(owner, fcntl.LOCK_UN)
        return True


def test_a_store_of_another_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    store = SqliteJobStore(path)
    store._db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema 99; this version reads 5"):
        SqliteJobStore(path)
    assert _lock_is_free(path), "a refused open leaves no lock behind"


OPEN_IN_ANOTHER_PROCESS = (
    "import pathlib, sys; from train_svc.jobs.sqlite_store import SqliteJobStore as S; S(pathlib.Path(sys.argv[1]))"
)


def test_a_second_owner_of_the_store_is_refused_until_the_first_closes(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    first = SqliteJobStore(path)
    other = subprocess.run(
        [sys.executable, "-c", OPEN_IN_ANOTHER_PROCESS, str(path)], capture_output=True, text=True, timeout=60
    )
    assert other.returncode != 0
    assert f"the job store {path} is in use by another training service" in other.stderr
    with pytest.raises(StoreError, match="in use by another training service"):
        SqliteJobStore(path)  # in this process too
    assert not _lock_is_free(path)
    first.close()
    assert _lock_is_free(path)
    SqliteJobStore(path).close()


def test_an_idle_follower_gets_heartbeats_and_an_interrupted_log_ends_its_followers():
    log = EventLog()
    log.append(StateChanged(JobState.QUEUED))

    async def follow() -> list:
        got = []
        async for item in log.follow(0, idle_seconds=0.05):
            got.append(item)
            if got.count(None) == 2:
                log.interrupt()
        return got

    got = asyncio.run(follow())
    assert got[0].sequence == 1 and got[1:] == [None, None]


def test_a_stored_job_that_cannot_be_rebuilt_fails_with_the_reason_and_the_others_are_served(tmp_path):
    from train_svc.accelerator import AcceleratorSlots
    from train_svc.jobs.manager import JobManager, JobNotFound, ManagerSettings
    from train_svc.models.base_model import BaseModel
    from train_svc.models.base_registry import BaseModels

    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    lease = _stored(store)
    _recorded(store, lease, EVENTS[1:])  # j1: finished
    created = datetime(2026, 12, 1, tzinfo=UTC)
    bad = NewJob("j2", "alice", "", {"rank": 7}, "m", created, "2.3")  # a request today's rules refuse
    store.add_job(bad, LoggedEvent(1, created, EVENTS[0]), None)

    def settings_of(request: dict) -> Settings:
        if request["rank"] not in (8, 16, 32, 64, 128):
            raise ValueError(f"rank {request['rank']} is not allowed")
        return Settings()

    class NeverRuns:
        def run(self, job: Job) -> None:
            raise AssertionError(f"{job.id} should not run")

    manager = JobManager(
        NeverRuns(),
        AcceleratorSlots(1),
        store,
        settings_of,
        ManagerSettings(BaseModels({"default": BaseModel("m", Path("m"), "2.3")}, "default"), "replica"),
    )
    manager.start()
    alice = Caller("alice")
    assert manager.get("trainingJobs/j1", alice).state is JobState.FAILED
    assert [job.id for job in manager.list(alice, 10, "", weigh=lambda job: 1).items] == ["j1"]
    with pytest.raises(JobNotFound):
        manager.get("trainingJobs/j2", alice)
    deadline = time.monotonic() + 10
    while (stored := store.job("j2")) is not None and not stored.state.is_final and time.monotonic() < deadline:
        time.sleep(0.02)
    [*_, failed] = store.events("j2")
    assert failed.event.state is JobState.FAILED and failed.event.error.reason == "STORED_REQUEST_INVALID"
    assert "rank 7 is not allowed" in failed.event.message
    assert manager.stop_jobs(5.0)


def test_a_feed_log_backfilled_by_two_watchers_at_once_holds_each_event_once():
    def logged(sequence: int) -> LoggedEvent:
        return LoggedEvent(
            sequence, datetime(2026, 12, 1, tzinfo=UTC), StepCompleted(sequence, 100, 0.5, 2e-4, 0.1, 9.0, 0.3, 0.2)
        )

    log = EventLog([logged(n) for n in range(11, 16)], base=10)
    log.backfill([logged(n) for n in range(6, 16)])  # one watcher read 6..15 while the other read 4..15
    log.backfill([logged(n) for n in range(4, 16)])
    log.backfill([logged(n) for n in range(8, 11)])  # a third, slower still, adds nothing
    log.extend([logged(n) for n in range(14, 18)])  # the notice of 16 and 17, read after 13
    assert (log.base, log.last_sequence) == (3, 17)

    async def follow() -> list[int]:
        log.close()
        return [item.sequence async for item in log.follow(3) if item is not None]

    assert asyncio.run(follow()) == list(range(4, 18))
    with pytest.raises(ValueError, match="without gaps"):
        log.backfill([logged(1)])
