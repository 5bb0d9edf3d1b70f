from shared.api.gen.ltx.trainer.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BundleDelivery(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUNDLE_DELIVERY_UNSPECIFIED: _ClassVar[BundleDelivery]
    BY_REFERENCE: _ClassVar[BundleDelivery]
    BY_VALUE: _ClassVar[BundleDelivery]
BUNDLE_DELIVERY_UNSPECIFIED: BundleDelivery
BY_REFERENCE: BundleDelivery
BY_VALUE: BundleDelivery

class UploadArchiveRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadArchiveHeader
    chunk: UploadArchiveChunk
    def __init__(self, header: _Optional[_Union[UploadArchiveHeader, _Mapping]] = ..., chunk: _Optional[_Union[UploadArchiveChunk, _Mapping]] = ...) -> None: ...

class UploadArchiveHeader(_message.Message):
    __slots__ = ("file_name", "total_size_bytes", "sha256")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    total_size_bytes: int
    sha256: str
    def __init__(self, file_name: _Optional[str] = ..., total_size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadArchiveChunk(_message.Message):
    __slots__ = ("offset", "data", "sha256")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    sha256: str
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadedArchive(_message.Message):
    __slots__ = ("uri", "sha256", "size_bytes")
    URI_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    uri: str
    sha256: str
    size_bytes: int
    def __init__(self, uri: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class PreprocessRequest(_message.Message):
    __slots__ = ("dataset_id", "training_data_url", "trigger_phrase", "number_of_frames", "frame_rate", "width", "height", "split_input_into_scenes", "split_input_duration_threshold", "auto_scale_input", "delivery", "with_audio", "audio_normalize", "audio_preserve_pitch", "owner")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATA_URL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_PHRASE_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SPLIT_INPUT_INTO_SCENES_FIELD_NUMBER: _ClassVar[int]
    SPLIT_INPUT_DURATION_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    AUTO_SCALE_INPUT_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    WITH_AUDIO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_PRESERVE_PITCH_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    training_data_url: str
    trigger_phrase: str
    number_of_frames: int
    frame_rate: int
    width: int
    height: int
    split_input_into_scenes: bool
    split_input_duration_threshold: float
    auto_scale_input: bool
    delivery: BundleDelivery
    with_audio: bool
    audio_normalize: bool
    audio_preserve_pitch: bool
    owner: str
    def __init__(self, dataset_id: _Optional[str] = ..., training_data_url: _Optional[str] = ..., trigger_phrase: _Optional[str] = ..., number_of_frames: _Optional[int] = ..., frame_rate: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., split_input_into_scenes: _Optional[bool] = ..., split_input_duration_threshold: _Optional[float] = ..., auto_scale_input: _Optional[bool] = ..., delivery: _Optional[_Union[BundleDelivery, str]] = ..., with_audio: _Optional[bool] = ..., audio_normalize: _Optional[bool] = ..., audio_preserve_pitch: _Optional[bool] = ..., owner: _Optional[str] = ...) -> None: ...

class BundleChunk(_message.Message):
    __slots__ = ("sample_id", "offset", "data")
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sample_id: str
    offset: int
    data: bytes
    def __init__(self, sample_id: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class PreprocessEvent(_message.Message):
    __slots__ = ("progress", "skipped", "warning", "bundle", "summary", "file_report", "bundle_chunk")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FILE_REPORT_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.PreprocessProgress
    skipped: _common_pb2.SkippedFile
    warning: _common_pb2.DatasetWarning
    bundle: _common_pb2.BundleRef
    summary: PreprocessSummary
    file_report: _common_pb2.FileReport
    bundle_chunk: BundleChunk
    def __init__(self, progress: _Optional[_Union[_common_pb2.PreprocessProgress, _Mapping]] = ..., skipped: _Optional[_Union[_common_pb2.SkippedFile, _Mapping]] = ..., warning: _Optional[_Union[_common_pb2.DatasetWarning, _Mapping]] = ..., bundle: _Optional[_Union[_common_pb2.BundleRef, _Mapping]] = ..., summary: _Optional[_Union[PreprocessSummary, _Mapping]] = ..., file_report: _Optional[_Union[_common_pb2.FileReport, _Mapping]] = ..., bundle_chunk: _Optional[_Union[BundleChunk, _Mapping]] = ...) -> None: ...

class PreprocessSummary(_message.Message):
    __slots__ = ("media_kind", "samples", "files_skipped", "wall_seconds", "from_cache", "cache_key")
    MEDIA_KIND_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FILES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    media_kind: _common_pb2.MediaKind
    samples: int
    files_skipped: int
    wall_seconds: float
    from_cache: bool
    cache_key: str
    def __init__(self, media_kind: _Optional[_Union[_common_pb2.MediaKind, str]] = ..., samples: _Optional[int] = ..., files_skipped: _Optional[int] = ..., wall_seconds: _Optional[float] = ..., from_cache: _Optional[bool] = ..., cache_key: _Optional[str] = ...) -> None: ...
