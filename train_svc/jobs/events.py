"""What happens during a job, as plain data. The gRPC layer turns these into the events WatchTrainingJob streams."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from shared.bundle_ref import BundleRef
from shared.dataset_report import FileReport


class JobState(Enum):
    QUEUED = "QUEUED"
    PREPROCESSING = "PREPROCESSING"
    TRAINING = "TRAINING"
    EXPORTING = "EXPORTING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobError:
    """Why a job failed: a status code name (gRPC vocabulary), a machine reason and a sentence."""

    code: str  # e.g. "FAILED_PRECONDITION", "INTERNAL"
    reason: str  # e.g. "ALL_CLIPS_TOO_SHORT"
    message: str
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateChanged:
    state: JobState
    message: str = ""
    error: JobError | None = None
    # Set on the change to TRAINING: whether audio is trained, and how that decision reads.
    with_audio: bool | None = None
    training_mode: str = ""
    # Set on the change to QUEUED when the creating call was traced: its W3C traceparent, which the job's
    # run continues (shared.tracing.context).
    trace_parent: str = ""


@dataclass(frozen=True)
class DatasetProgress:
    files_total: int
    files_done: int
    samples_written: int
    files_skipped: int


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str
    message: str


@dataclass(frozen=True)
class DatasetWarning:
    path: str
    code: str
    message: str


@dataclass(frozen=True)
class DatasetReady:
    """The preprocessor finished: every bundle has been announced."""

    media_kind: str  # "video" | "image"
    samples: int
    files_skipped: int
    from_cache: bool = False  # the preprocessor reused an earlier run's bundles (same content and settings)
    cache_key: str = ""


@dataclass(frozen=True)
class SampleEncoded:
    bundle: BundleRef
    video_tokens: int
    from_cache: bool = False  # the latents came from the content cache: no encoder ran


@dataclass(frozen=True)
class StepCompleted:
    step: int
    total_steps: int
    loss: float
    learning_rate: float
    step_seconds: float
    eta_seconds: float
    video_loss: float
    audio_loss: float  # 0 when audio is not trained
    # Recorded since the training curves (issue 17); None / () in a log written before them.
    grad_norm: float | None = None  # the LoRA gradients' total norm before clipping
    sigmas: tuple[float, ...] = ()  # each sample's video noise level, in global batch order
    sample_losses: tuple[float, ...] = ()  # each sample's loss, in the same order


@dataclass(frozen=True)
class ArtifactWritten:
    # lora_file | config_file | video | debug_dataset | dataset_report | tensorboard | loss_plot | result_file
    name: str
    uri: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ValidationPreview:
    """A validation prompt rendered with the LoRA as it was after `step`."""

    step: int
    prompt_index: int  # into the request's `validation` list
    prompt: str
    seed: int  # fixed per prompt for the whole run
    render_seconds: float
    video: ArtifactWritten  # the preview mp4, name "preview"
    jpeg_frames: tuple[bytes, ...]  # a few frames, evenly spread, first and last included


@dataclass(frozen=True)
class CheckpointWritten:
    step: int
    uri: str
    size_bytes: int


@dataclass(frozen=True)
class JobResumed:
    """The service restarted while the job ran; training continues after checkpoint step `from_step`."""

    from_step: int
    last_step: int  # the last step recorded before the restart
    message: str


class FilePart(Enum):
    """What retention removes of an ended job, each part after its own delay."""

    WORKING_FILES = "working_files"  # checkpoints and dataset bundles (--retain-days)
    OUTPUTS = "outputs"  # the LoRA, config, previews, reports, result file (--retain-outputs-days)


@dataclass(frozen=True)
class FilesRemoved:
    """Retention removed a part of the ended job's files (recorded after its final state; the job stays)."""

    part: FilePart
    bytes_freed: int  # 0 when another replica's sweep freed them first


JobEvent = (
    StateChanged
    | DatasetProgress
    | SkippedFile
    | DatasetWarning
    | FileReport
    | SampleEncoded
    | StepCompleted
    | ArtifactWritten
    | ValidationPreview
    | DatasetReady
    | CheckpointWritten
    | JobResumed
    | FilesRemoved
)
# What a preprocessor hands the job runner (a BundleRef is a sample ready to encode).
PreprocessEvent = DatasetProgress | SkippedFile | DatasetWarning | FileReport | BundleRef | DatasetReady


class DatasetFailure(Exception):
    """The preprocessor rejected the dataset (mixed media, all clips too short, unsafe archive...)."""

    def __init__(self, error: JobError):
        super().__init__(error.message)
        self.error = error
