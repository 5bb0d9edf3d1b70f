import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from shared.api.gen.ltx.trainer.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainingInput(_message.Message):
    __slots__ = ("training_data_url", "trigger_phrase", "rank", "number_of_steps", "learning_rate", "number_of_frames", "frame_rate", "resolution", "aspect_ratio", "auto_scale_input", "split_input_into_scenes", "split_input_duration_threshold", "with_audio", "audio_normalize", "audio_preserve_pitch", "validation", "validation_negative_prompt", "validation_number_of_frames", "validation_frame_rate", "validation_resolution", "validation_aspect_ratio", "stg_scale", "debug_dataset")
    TRAINING_DATA_URL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_PHRASE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    ASPECT_RATIO_FIELD_NUMBER: _ClassVar[int]
    AUTO_SCALE_INPUT_FIELD_NUMBER: _ClassVar[int]
    SPLIT_INPUT_INTO_SCENES_FIELD_NUMBER: _ClassVar[int]
    SPLIT_INPUT_DURATION_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WITH_AUDIO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_PRESERVE_PITCH_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_NUMBER_OF_FRAMES_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_ASPECT_RATIO_FIELD_NUMBER: _ClassVar[int]
    STG_SCALE_FIELD_NUMBER: _ClassVar[int]
    DEBUG_DATASET_FIELD_NUMBER: _ClassVar[int]
    training_data_url: str
    trigger_phrase: str
    rank: int
    number_of_steps: int
    learning_rate: float
    number_of_frames: int
    frame_rate: int
    resolution: _common_pb2.Resolution
    aspect_ratio: _common_pb2.AspectRatio
    auto_scale_input: bool
    split_input_into_scenes: bool
    split_input_duration_threshold: float
    with_audio: bool
    audio_normalize: bool
    audio_preserve_pitch: bool
    validation: _containers.RepeatedCompositeFieldContainer[ValidationPrompt]
    validation_negative_prompt: str
    validation_number_of_frames: int
    validation_frame_rate: int
    validation_resolution: _common_pb2.Resolution
    validation_aspect_ratio: _common_pb2.AspectRatio
    stg_scale: float
    debug_dataset: bool
    def __init__(self, training_data_url: _Optional[str] = ..., trigger_phrase: _Optional[str] = ..., rank: _Optional[int] = ..., number_of_steps: _Optional[int] = ..., learning_rate: _Optional[float] = ..., number_of_frames: _Optional[int] = ..., frame_rate: _Optional[int] = ..., resolution: _Optional[_Union[_common_pb2.Resolution, str]] = ..., aspect_ratio: _Optional[_Union[_common_pb2.AspectRatio, str]] = ..., auto_scale_input: _Optional[bool] = ..., split_input_into_scenes: _Optional[bool] = ..., split_input_duration_threshold: _Optional[float] = ..., with_audio: _Optional[bool] = ..., audio_normalize: _Optional[bool] = ..., audio_preserve_pitch: _Optional[bool] = ..., validation: _Optional[_Iterable[_Union[ValidationPrompt, _Mapping]]] = ..., validation_negative_prompt: _Optional[str] = ..., validation_number_of_frames: _Optional[int] = ..., validation_frame_rate: _Optional[int] = ..., validation_resolution: _Optional[_Union[_common_pb2.Resolution, str]] = ..., validation_aspect_ratio: _Optional[_Union[_common_pb2.AspectRatio, str]] = ..., stg_scale: _Optional[float] = ..., debug_dataset: _Optional[bool] = ...) -> None: ...

class ValidationPrompt(_message.Message):
    __slots__ = ("prompt",)
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    def __init__(self, prompt: _Optional[str] = ...) -> None: ...

class CreateTrainingJobRequest(_message.Message):
    __slots__ = ("input", "request_id")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    input: TrainingInput
    request_id: str
    def __init__(self, input: _Optional[_Union[TrainingInput, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetTrainingJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTrainingJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrainingJobsResponse(_message.Message):
    __slots__ = ("training_jobs", "next_page_token")
    TRAINING_JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    training_jobs: _containers.RepeatedCompositeFieldContainer[TrainingJob]
    next_page_token: str
    def __init__(self, training_jobs: _Optional[_Iterable[_Union[TrainingJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelTrainingJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchTrainingJobRequest(_message.Message):
    __slots__ = ("name", "after_sequence")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    after_sequence: int
    def __init__(self, name: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class TrainingJob(_message.Message):
    __slots__ = ("name", "input", "state", "create_time", "update_time", "error", "resolved", "progress", "result", "billable_units", "base_model", "dataset_report")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[TrainingJob.State]
        QUEUED: _ClassVar[TrainingJob.State]
        PREPROCESSING: _ClassVar[TrainingJob.State]
        TRAINING: _ClassVar[TrainingJob.State]
        EXPORTING: _ClassVar[TrainingJob.State]
        SUCCEEDED: _ClassVar[TrainingJob.State]
        FAILED: _ClassVar[TrainingJob.State]
        CANCELLED: _ClassVar[TrainingJob.State]
    STATE_UNSPECIFIED: TrainingJob.State
    QUEUED: TrainingJob.State
    PREPROCESSING: TrainingJob.State
    TRAINING: TrainingJob.State
    EXPORTING: TrainingJob.State
    SUCCEEDED: TrainingJob.State
    FAILED: TrainingJob.State
    CANCELLED: TrainingJob.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    BILLABLE_UNITS_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_REPORT_FIELD_NUMBER: _ClassVar[int]
    name: str
    input: TrainingInput
    state: TrainingJob.State
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    error: _status_pb2.Status
    resolved: ResolvedSettings
    progress: TrainingProgress
    result: TrainingResult
    billable_units: int
    base_model: str
    dataset_report: _common_pb2.DatasetReport
    def __init__(self, name: _Optional[str] = ..., input: _Optional[_Union[TrainingInput, _Mapping]] = ..., state: _Optional[_Union[TrainingJob.State, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., resolved: _Optional[_Union[ResolvedSettings, _Mapping]] = ..., progress: _Optional[_Union[TrainingProgress, _Mapping]] = ..., result: _Optional[_Union[TrainingResult, _Mapping]] = ..., billable_units: _Optional[int] = ..., base_model: _Optional[str] = ..., dataset_report: _Optional[_Union[_common_pb2.DatasetReport, _Mapping]] = ...) -> None: ...

class ResolvedSettings(_message.Message):
    __slots__ = ("number_of_frames", "width", "height", "frame_rate", "rank", "number_of_steps", "learning_rate", "validation_number_of_frames", "validation_width", "validation_height", "with_audio")
    NUMBER_OF_FRAMES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_NUMBER_OF_FRAMES_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_WIDTH_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WITH_AUDIO_FIELD_NUMBER: _ClassVar[int]
    number_of_frames: int
    width: int
    height: int
    frame_rate: int
    rank: int
    number_of_steps: int
    learning_rate: float
    validation_number_of_frames: int
    validation_width: int
    validation_height: int
    with_audio: bool
    def __init__(self, number_of_frames: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., frame_rate: _Optional[int] = ..., rank: _Optional[int] = ..., number_of_steps: _Optional[int] = ..., learning_rate: _Optional[float] = ..., validation_number_of_frames: _Optional[int] = ..., validation_width: _Optional[int] = ..., validation_height: _Optional[int] = ..., with_audio: _Optional[bool] = ...) -> None: ...

class TrainingProgress(_message.Message):
    __slots__ = ("step", "total_steps", "loss", "samples")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    loss: float
    samples: int
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., loss: _Optional[float] = ..., samples: _Optional[int] = ...) -> None: ...

class TrainingResult(_message.Message):
    __slots__ = ("lora_file", "config_file", "video", "debug_dataset", "result_file", "billable_units", "dataset_report")
    LORA_FILE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FILE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    DEBUG_DATASET_FIELD_NUMBER: _ClassVar[int]
    RESULT_FILE_FIELD_NUMBER: _ClassVar[int]
    BILLABLE_UNITS_FIELD_NUMBER: _ClassVar[int]
    DATASET_REPORT_FIELD_NUMBER: _ClassVar[int]
    lora_file: _common_pb2.Artifact
    config_file: _common_pb2.Artifact
    video: _common_pb2.Artifact
    debug_dataset: _common_pb2.Artifact
    result_file: _common_pb2.Artifact
    billable_units: int
    dataset_report: _common_pb2.Artifact
    def __init__(self, lora_file: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., config_file: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., video: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., debug_dataset: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., result_file: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., billable_units: _Optional[int] = ..., dataset_report: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ...) -> None: ...

class TrainingJobEvent(_message.Message):
    __slots__ = ("sequence", "time", "state_change", "preprocess_progress", "skipped", "warning", "sample_encoded", "step", "artifact", "file_report", "preview", "dataset_ready", "checkpoint", "resumed", "heartbeat")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ENCODED_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    FILE_REPORT_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    DATASET_READY_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    state_change: StateChange
    preprocess_progress: _common_pb2.PreprocessProgress
    skipped: _common_pb2.SkippedFile
    warning: _common_pb2.DatasetWarning
    sample_encoded: SampleEncoded
    step: TrainingStep
    artifact: _common_pb2.Artifact
    file_report: _common_pb2.FileReport
    preview: ValidationPreview
    dataset_ready: DatasetReady
    checkpoint: CheckpointWritten
    resumed: JobResumed
    heartbeat: Heartbeat
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state_change: _Optional[_Union[StateChange, _Mapping]] = ..., preprocess_progress: _Optional[_Union[_common_pb2.PreprocessProgress, _Mapping]] = ..., skipped: _Optional[_Union[_common_pb2.SkippedFile, _Mapping]] = ..., warning: _Optional[_Union[_common_pb2.DatasetWarning, _Mapping]] = ..., sample_encoded: _Optional[_Union[SampleEncoded, _Mapping]] = ..., step: _Optional[_Union[TrainingStep, _Mapping]] = ..., artifact: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., file_report: _Optional[_Union[_common_pb2.FileReport, _Mapping]] = ..., preview: _Optional[_Union[ValidationPreview, _Mapping]] = ..., dataset_ready: _Optional[_Union[DatasetReady, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointWritten, _Mapping]] = ..., resumed: _Optional[_Union[JobResumed, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class DatasetReady(_message.Message):
    __slots__ = ("media_kind", "samples", "files_skipped", "from_cache", "cache_key")
    MEDIA_KIND_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FILES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    media_kind: _common_pb2.MediaKind
    samples: int
    files_skipped: int
    from_cache: bool
    cache_key: str
    def __init__(self, media_kind: _Optional[_Union[_common_pb2.MediaKind, str]] = ..., samples: _Optional[int] = ..., files_skipped: _Optional[int] = ..., from_cache: _Optional[bool] = ..., cache_key: _Optional[str] = ...) -> None: ...

class CheckpointWritten(_message.Message):
    __slots__ = ("step", "uri", "size_bytes")
    STEP_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    step: int
    uri: str
    size_bytes: int
    def __init__(self, step: _Optional[int] = ..., uri: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class JobResumed(_message.Message):
    __slots__ = ("from_step", "last_step", "message")
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    LAST_STEP_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    from_step: int
    last_step: int
    message: str
    def __init__(self, from_step: _Optional[int] = ..., last_step: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("last_sequence",)
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    last_sequence: int
    def __init__(self, last_sequence: _Optional[int] = ...) -> None: ...

class ValidationPreview(_message.Message):
    __slots__ = ("step", "prompt_index", "prompt", "jpeg_frames", "video", "seed", "render_seconds")
    STEP_FIELD_NUMBER: _ClassVar[int]
    PROMPT_INDEX_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    JPEG_FRAMES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RENDER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    step: int
    prompt_index: int
    prompt: str
    jpeg_frames: _containers.RepeatedScalarFieldContainer[bytes]
    video: _common_pb2.Artifact
    seed: int
    render_seconds: float
    def __init__(self, step: _Optional[int] = ..., prompt_index: _Optional[int] = ..., prompt: _Optional[str] = ..., jpeg_frames: _Optional[_Iterable[bytes]] = ..., video: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., seed: _Optional[int] = ..., render_seconds: _Optional[float] = ...) -> None: ...

class GenerateVideoRequest(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "job", "lora_file", "lora_scale", "number_of_frames", "frame_rate", "resolution", "aspect_ratio", "steps", "guidance_scale", "audio_guidance_scale", "stg_scale", "seed")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    LORA_FILE_FIELD_NUMBER: _ClassVar[int]
    LORA_SCALE_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    ASPECT_RATIO_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    STG_SCALE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    job: str
    lora_file: str
    lora_scale: float
    number_of_frames: int
    frame_rate: int
    resolution: _common_pb2.Resolution
    aspect_ratio: _common_pb2.AspectRatio
    steps: int
    guidance_scale: float
    audio_guidance_scale: float
    stg_scale: float
    seed: int
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., job: _Optional[str] = ..., lora_file: _Optional[str] = ..., lora_scale: _Optional[float] = ..., number_of_frames: _Optional[int] = ..., frame_rate: _Optional[int] = ..., resolution: _Optional[_Union[_common_pb2.Resolution, str]] = ..., aspect_ratio: _Optional[_Union[_common_pb2.AspectRatio, str]] = ..., steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., audio_guidance_scale: _Optional[float] = ..., stg_scale: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class GenerateVideoEvent(_message.Message):
    __slots__ = ("progress", "preview_jpeg", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_JPEG_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: GenerationProgress
    preview_jpeg: bytes
    result: GenerationResult
    def __init__(self, progress: _Optional[_Union[GenerationProgress, _Mapping]] = ..., preview_jpeg: _Optional[bytes] = ..., result: _Optional[_Union[GenerationResult, _Mapping]] = ...) -> None: ...

class GenerationProgress(_message.Message):
    __slots__ = ("step", "total_steps", "stage")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    stage: str
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., stage: _Optional[str] = ...) -> None: ...

class GenerationResult(_message.Message):
    __slots__ = ("name", "video", "seed", "seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    video: _common_pb2.Artifact
    seed: int
    seconds: float
    def __init__(self, name: _Optional[str] = ..., video: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., seed: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class DownloadArtifactRequest(_message.Message):
    __slots__ = ("name", "artifact", "offset")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    name: str
    artifact: str
    offset: int
    def __init__(self, name: _Optional[str] = ..., artifact: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadArtifactResponse(_message.Message):
    __slots__ = ("artifact", "offset", "data")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact: _common_pb2.Artifact
    offset: int
    data: bytes
    def __init__(self, artifact: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class StateChange(_message.Message):
    __slots__ = ("state", "message", "error")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    state: TrainingJob.State
    message: str
    error: _status_pb2.Status
    def __init__(self, state: _Optional[_Union[TrainingJob.State, str]] = ..., message: _Optional[str] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class SampleEncoded(_message.Message):
    __slots__ = ("bundle", "video_tokens", "from_cache")
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    bundle: _common_pb2.BundleRef
    video_tokens: int
    from_cache: bool
    def __init__(self, bundle: _Optional[_Union[_common_pb2.BundleRef, _Mapping]] = ..., video_tokens: _Optional[int] = ..., from_cache: _Optional[bool] = ...) -> None: ...

class TrainingStep(_message.Message):
    __slots__ = ("step", "total_steps", "loss", "learning_rate", "step_seconds", "eta_seconds", "video_loss", "audio_loss")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    STEP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_LOSS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_LOSS_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    loss: float
    learning_rate: float
    step_seconds: float
    eta_seconds: float
    video_loss: float
    audio_loss: float
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., loss: _Optional[float] = ..., learning_rate: _Optional[float] = ..., step_seconds: _Optional[float] = ..., eta_seconds: _Optional[float] = ..., video_loss: _Optional[float] = ..., audio_loss: _Optional[float] = ...) -> None: ...
