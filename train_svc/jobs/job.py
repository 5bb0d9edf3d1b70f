"""A training job's record. Its fields follow from the events recorded on it, so the log is the truth."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.dataset_report import DatasetReport, FileReport
from train_svc.jobs.event_log import EventLog, LoggedEvent
from train_svc.jobs.events import (
    ArtifactWritten,
    JobError,
    JobEvent,
    JobState,
    SampleEncoded,
    StateChanged,
    StepCompleted,
    ValidationPreview,
)

NAME_PREFIX = "trainingJobs/"


@dataclass
class Job:
    id: str
    settings: Any  # shared.request.settings.TrainingSettings
    input_json: dict[str, Any]  # the request as the caller sent it (spec field names)
    base_model: str
    create_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    update_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: JobState = JobState.QUEUED
    error: JobError | None = None
    step: int = 0
    loss: float = 0.0
    samples: int = 0
    artifacts: dict[str, ArtifactWritten] = field(default_factory=dict)
    file_reports: list[FileReport] = field(default_factory=list)  # in the order the files were done
    previews: list[ValidationPreview] = field(default_factory=list)  # in the order they were rendered
    with_audio: bool | None = None  # whether audio is trained; decided when preprocessing ends
    training_mode: str = ""  # how the decision reads, e.g. "video only (1 clip(s) without sound)"
    billable_units: int = 0
    log: EventLog = field(default_factory=EventLog)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return NAME_PREFIX + self.id

    @property
    def total_steps(self) -> int:
        return int(self.settings.number_of_steps)

    @property
    def dataset_report(self) -> DatasetReport:
        return DatasetReport.of(self.file_reports)

    def record(self, event: JobEvent) -> LoggedEvent:
        """Apply an event to the record and append it to the log."""
        if isinstance(event, StateChanged):
            self.state = event.state
            self.error = event.error
            if event.state is JobState.SUCCEEDED:
                self.billable_units = int(self.settings.billable_units_on_success)
        elif isinstance(event, StepCompleted):
            self.step, self.loss = event.step, event.loss
        elif isinstance(event, SampleEncoded):
            self.samples += 1
        elif isinstance(event, ArtifactWritten):
            self.artifacts[event.name] = event
        elif isinstance(event, FileReport):
            self.file_reports.append(event)
        elif isinstance(event, ValidationPreview):
            self.previews.append(event)
        self.update_time = datetime.now(UTC)
        logged = self.log.append(event)
        if isinstance(event, StateChanged) and event.state.is_final:
            self.log.close()
        return logged
