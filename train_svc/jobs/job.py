"""A training job's record. Its fields follow from the events recorded on it, so the log is the truth:
a job restored after a restart is rebuilt by applying its stored events again (`Job.restore`).

A restored job that was running is re-run from the start of its pipeline (with its caches and its
last checkpoint making that quick). Everything that run does again is what it did before, so while
`resuming`, an event is dropped when the log already has one of the same kind for the same thing
(`event_key`): the log keeps one continuous account of the job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.dataset_report import DatasetReport, FileReport
from train_svc.jobs.event_log import EventLog, LoggedEvent
from train_svc.jobs.events import (
    ArtifactWritten,
    CheckpointWritten,
    DatasetProgress,
    DatasetReady,
    FilePart,
    FilesRemoved,
    JobError,
    JobEvent,
    JobResumed,
    JobState,
    SampleEncoded,
    StateChanged,
    StepCompleted,
    ValidationPreview,
)

NAME_PREFIX = "trainingJobs/"


def event_key(event: JobEvent) -> Hashable | None:
    """What an event is about, for dropping a repeat while a job resumes; None: never a repeat."""
    if isinstance(event, StateChanged):
        return ("state", event.state)
    if isinstance(event, FileReport):
        return ("file", event.path)
    if isinstance(event, SampleEncoded):
        return ("sample", event.bundle.sample_id)
    if isinstance(event, StepCompleted):
        return ("step", event.step)
    if isinstance(event, ArtifactWritten):
        return ("artifact", event.name)
    if isinstance(event, ValidationPreview):
        return ("preview", event.step, event.prompt_index)
    if isinstance(event, CheckpointWritten):
        return ("checkpoint", event.step)
    if isinstance(event, DatasetReady):
        return ("dataset_ready",)
    if isinstance(event, DatasetProgress):
        return ("progress", event.files_done)  # a re-run may count the same file with other totals
    if isinstance(event, JobResumed):
        return None
    return event  # skips and warnings: a repeat is an equal event


@dataclass
class Job:
    id: str
    settings: Any  # shared.request.settings.TrainingSettings
    input_json: dict[str, Any]  # the request as the caller sent it (spec field names)
    base_model: str  # the name of the base it trains on (its id is input_json's base_model)
    owner: str  # the principal that created it: only it (and admins) see the job
    base_version: str  # that base's LTX version, recorded when the job was created
    create_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    update_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: JobState = JobState.QUEUED
    error: JobError | None = None
    step: int = 0
    loss: float = 0.0
    artifacts: dict[str, ArtifactWritten] = field(default_factory=dict)
    file_reports: list[FileReport] = field(default_factory=list)  # in the order the files were done
    previews: list[ValidationPreview] = field(default_factory=list)  # in the order they were rendered
    with_audio: bool | None = None  # whether audio is trained; decided when preprocessing ends
    training_mode: str = ""  # how the decision reads, e.g. "video only (1 clip(s) without sound)"
    billable_units: int = 0
    dataset_ready: DatasetReady | None = None
    bundles: list[SampleEncoded] = field(default_factory=list)  # in the order they were encoded
    checkpoints: list[CheckpointWritten] = field(default_factory=list)
    # Its StepCompleted events as logged (with their times), one per step: the training curves' source.
    step_log: list[LoggedEvent] = field(default_factory=list)
    files_removed: dict[FilePart, datetime] = field(default_factory=dict)  # by retention, when
    log: EventLog = field(default_factory=EventLog)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    stop_requested: threading.Event = field(default_factory=threading.Event)  # the service is shutting down
    # Raises (LeaseLost) when this replica may no longer write the job's files: called before each write.
    fence: Callable[[], None] = lambda: None
    lease_token: int = 0  # the fencing token of the claim this replica runs it under (0: none)
    # Told of every event recorded here (not of repeats dropped while resuming): the service's metrics.
    observe: Callable[[JobEvent], None] = lambda event: None
    resuming: bool = False  # re-running after a restart: repeats of logged events are dropped
    trace_parent: str = ""  # the creating call's trace context, which its run continues ("": not traced)
    sequence: int = 0  # the sequence number of the newest event applied
    _keys: set[Hashable] = field(default_factory=set)

    @classmethod
    def restore(cls, logged: list[LoggedEvent], persist, **fields: Any) -> Job:
        """The job as its stored events left it; it resumes if it was past QUEUED and not finished."""
        job = cls(**fields)
        job.catch_up(logged)
        job.log = EventLog(logged, persist)
        job.resuming = job.state not in (JobState.QUEUED,) and not job.state.is_final
        if job.state.is_final:
            job.log.close()
        return job

    @property
    def name(self) -> str:
        return NAME_PREFIX + self.id

    @property
    def samples(self) -> int:
        """Samples encoded so far."""
        return len(self.bundles)

    @property
    def total_steps(self) -> int:
        return int(self.settings.number_of_steps)

    @property
    def dataset_report(self) -> DatasetReport:
        return DatasetReport.of(self.file_reports, self.base_version)

    @property
    def should_stop(self) -> bool:
        return self.cancel_requested.is_set() or self.stop_requested.is_set()

    def catch_up(self, logged: list[LoggedEvent]) -> None:
        """Apply events stored after the ones this record has seen (a view of a job run elsewhere)."""
        for item in logged:
            if item.sequence != self.sequence + 1:
                raise ValueError(f"job {self.id}: event {item.sequence} does not follow {self.sequence}")
            self._apply(item)
            self.update_time, self.sequence = item.time, item.sequence

    def record(self, event: JobEvent) -> LoggedEvent | None:
        """Apply an event to the record and append it to the log (None: a repeat dropped while resuming)."""
        if self.resuming and event_key(event) in self._keys:
            return None
        logged = self.log.append(event)  # stored first: the record never shows what the store lacks
        self._apply(logged)
        self.update_time, self.sequence = logged.time, logged.sequence
        if isinstance(event, StateChanged) and event.state.is_final:
            self.log.close()
        self.observe(event)
        return logged

    def _apply(self, logged: LoggedEvent) -> None:
        event = logged.event
        key = event_key(event)
        if key is not None:
            self._keys.add(key)
        if isinstance(event, StateChanged):
            self.state = event.state
            self.error = event.error
            if event.state is JobState.SUCCEEDED:
                self.billable_units = int(self.settings.billable_units_on_success)
            if event.state is JobState.TRAINING:
                self.with_audio, self.training_mode = event.with_audio, event.training_mode
            if event.trace_parent:
                self.trace_parent = event.trace_parent
        elif isinstance(event, StepCompleted):
            self.step, self.loss = event.step, event.loss
            self.step_log.append(logged)
        elif isinstance(event, SampleEncoded):
            self.bundles.append(event)
        elif isinstance(event, DatasetReady):
            self.dataset_ready = event
        elif isinstance(event, CheckpointWritten):
            self.checkpoints.append(event)
        elif isinstance(event, ArtifactWritten):
            self.artifacts[event.name] = event
        elif isinstance(event, FileReport):
            self.file_reports.append(event)
        elif isinstance(event, ValidationPreview):
            self.previews.append(event)
        elif isinstance(event, FilesRemoved):
            self.files_removed.setdefault(event.part, logged.time)
