"""Job events <-> JSON, for the job store. Each event is stored as its type name and its fields.

Generic over the frozen dataclasses of train_svc.jobs.events (and FileReport), through
shared.plain_json: a new event type needs no code here, only a place in EVENT_TYPES.
"""

from __future__ import annotations

import json

from shared.dataset_report import FileReport
from shared.plain_json import from_plain, to_plain
from train_svc.jobs.events import (
    ArtifactWritten,
    CheckpointWritten,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    FilesRemoved,
    JobEvent,
    JobResumed,
    SampleEncoded,
    SkippedFile,
    StateChanged,
    StepCompleted,
    ValidationPreview,
)

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        StateChanged,
        DatasetProgress,
        SkippedFile,
        DatasetWarning,
        FileReport,
        SampleEncoded,
        StepCompleted,
        ArtifactWritten,
        ValidationPreview,
        DatasetReady,
        CheckpointWritten,
        JobResumed,
        FilesRemoved,
    )
}
# Types that logs written before a rename store under their former name.
FORMER_NAMES: dict[str, type] = {"FileSkipped": SkippedFile}


class UnknownEvent(ValueError):
    """A stored event whose type this version does not know."""


def encode_event(event: JobEvent) -> tuple[str, str]:
    """(type name, JSON of its fields)."""
    kind = type(event).__name__
    if kind not in EVENT_TYPES:
        raise UnknownEvent(f"{kind} is not a storable job event")
    return kind, json.dumps(to_plain(event), separators=(",", ":"))


def decode_event(kind: str, payload: str) -> JobEvent:
    cls = EVENT_TYPES.get(kind) or FORMER_NAMES.get(kind)
    if cls is None:
        raise UnknownEvent(f"stored event of unknown type {kind!r}")
    return from_plain(cls, json.loads(payload))
