from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Resolution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOLUTION_UNSPECIFIED: _ClassVar[Resolution]
    RESOLUTION_LOW: _ClassVar[Resolution]
    RESOLUTION_MEDIUM: _ClassVar[Resolution]
    RESOLUTION_HIGH: _ClassVar[Resolution]

class AspectRatio(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASPECT_RATIO_UNSPECIFIED: _ClassVar[AspectRatio]
    ASPECT_RATIO_16_9: _ClassVar[AspectRatio]
    ASPECT_RATIO_1_1: _ClassVar[AspectRatio]
    ASPECT_RATIO_9_16: _ClassVar[AspectRatio]

class MediaKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_KIND_UNSPECIFIED: _ClassVar[MediaKind]
    MEDIA_KIND_VIDEO: _ClassVar[MediaKind]
    MEDIA_KIND_IMAGE: _ClassVar[MediaKind]
RESOLUTION_UNSPECIFIED: Resolution
RESOLUTION_LOW: Resolution
RESOLUTION_MEDIUM: Resolution
RESOLUTION_HIGH: Resolution
ASPECT_RATIO_UNSPECIFIED: AspectRatio
ASPECT_RATIO_16_9: AspectRatio
ASPECT_RATIO_1_1: AspectRatio
ASPECT_RATIO_9_16: AspectRatio
MEDIA_KIND_UNSPECIFIED: MediaKind
MEDIA_KIND_VIDEO: MediaKind
MEDIA_KIND_IMAGE: MediaKind

class PreprocessProgress(_message.Message):
    __slots__ = ("files_total", "files_done", "samples_written", "files_skipped")
    FILES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FILES_DONE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    FILES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    files_total: int
    files_done: int
    samples_written: int
    files_skipped: int
    def __init__(self, files_total: _Optional[int] = ..., files_done: _Optional[int] = ..., samples_written: _Optional[int] = ..., files_skipped: _Optional[int] = ...) -> None: ...

class SkippedFile(_message.Message):
    __slots__ = ("path", "reason", "message")
    PATH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    reason: str
    message: str
    def __init__(self, path: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class DatasetWarning(_message.Message):
    __slots__ = ("path", "code", "message")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    code: str
    message: str
    def __init__(self, path: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class BundleRef(_message.Message):
    __slots__ = ("sample_id", "uri", "sha256", "size_bytes", "frames", "height", "width", "fps", "caption", "source_path", "has_audio")
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PATH_FIELD_NUMBER: _ClassVar[int]
    HAS_AUDIO_FIELD_NUMBER: _ClassVar[int]
    sample_id: str
    uri: str
    sha256: str
    size_bytes: int
    frames: int
    height: int
    width: int
    fps: float
    caption: str
    source_path: str
    has_audio: bool
    def __init__(self, sample_id: _Optional[str] = ..., uri: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., frames: _Optional[int] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., fps: _Optional[float] = ..., caption: _Optional[str] = ..., source_path: _Optional[str] = ..., has_audio: _Optional[bool] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("name", "uri", "sha256", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    uri: str
    sha256: str
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., uri: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class FileReport(_message.Message):
    __slots__ = ("path", "outcome", "reason", "message", "media_kind", "caption_path", "caption_found", "source", "scene_cuts_seconds", "samples", "skipped_parts")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[FileReport.Outcome]
        USED: _ClassVar[FileReport.Outcome]
        SKIPPED: _ClassVar[FileReport.Outcome]
        IGNORED: _ClassVar[FileReport.Outcome]
    OUTCOME_UNSPECIFIED: FileReport.Outcome
    USED: FileReport.Outcome
    SKIPPED: FileReport.Outcome
    IGNORED: FileReport.Outcome
    PATH_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_KIND_FIELD_NUMBER: _ClassVar[int]
    CAPTION_PATH_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FOUND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCENE_CUTS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_PARTS_FIELD_NUMBER: _ClassVar[int]
    path: str
    outcome: FileReport.Outcome
    reason: str
    message: str
    media_kind: MediaKind
    caption_path: str
    caption_found: bool
    source: SourceMedia
    scene_cuts_seconds: _containers.RepeatedScalarFieldContainer[float]
    samples: _containers.RepeatedCompositeFieldContainer[SampleReport]
    skipped_parts: _containers.RepeatedCompositeFieldContainer[SkippedFile]
    def __init__(self, path: _Optional[str] = ..., outcome: _Optional[_Union[FileReport.Outcome, str]] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., media_kind: _Optional[_Union[MediaKind, str]] = ..., caption_path: _Optional[str] = ..., caption_found: _Optional[bool] = ..., source: _Optional[_Union[SourceMedia, _Mapping]] = ..., scene_cuts_seconds: _Optional[_Iterable[float]] = ..., samples: _Optional[_Iterable[_Union[SampleReport, _Mapping]]] = ..., skipped_parts: _Optional[_Iterable[_Union[SkippedFile, _Mapping]]] = ...) -> None: ...

class SourceMedia(_message.Message):
    __slots__ = ("width", "height", "coded_width", "coded_height", "fps", "duration_seconds", "frames", "codec", "rotation", "has_audio")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CODED_WIDTH_FIELD_NUMBER: _ClassVar[int]
    CODED_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    HAS_AUDIO_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    coded_width: int
    coded_height: int
    fps: float
    duration_seconds: float
    frames: int
    codec: str
    rotation: int
    has_audio: bool
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., coded_width: _Optional[int] = ..., coded_height: _Optional[int] = ..., fps: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., frames: _Optional[int] = ..., codec: _Optional[str] = ..., rotation: _Optional[int] = ..., has_audio: _Optional[bool] = ...) -> None: ...

class SampleReport(_message.Message):
    __slots__ = ("sample_id", "frames", "fps", "width", "height", "fit", "start_seconds", "end_seconds", "time_scale", "audio_fit", "audio_gain")
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIME_SCALE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_GAIN_FIELD_NUMBER: _ClassVar[int]
    sample_id: str
    frames: int
    fps: float
    width: int
    height: int
    fit: str
    start_seconds: float
    end_seconds: float
    time_scale: float
    audio_fit: str
    audio_gain: float
    def __init__(self, sample_id: _Optional[str] = ..., frames: _Optional[int] = ..., fps: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fit: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., time_scale: _Optional[float] = ..., audio_fit: _Optional[str] = ..., audio_gain: _Optional[float] = ...) -> None: ...

class DatasetReport(_message.Message):
    __slots__ = ("media_kind", "files", "files_used", "files_skipped", "files_ignored", "samples", "files_omitted")
    MEDIA_KIND_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    FILES_USED_FIELD_NUMBER: _ClassVar[int]
    FILES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FILES_IGNORED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FILES_OMITTED_FIELD_NUMBER: _ClassVar[int]
    media_kind: MediaKind
    files: _containers.RepeatedCompositeFieldContainer[FileReport]
    files_used: int
    files_skipped: int
    files_ignored: int
    samples: int
    files_omitted: int
    def __init__(self, media_kind: _Optional[_Union[MediaKind, str]] = ..., files: _Optional[_Iterable[_Union[FileReport, _Mapping]]] = ..., files_used: _Optional[int] = ..., files_skipped: _Optional[int] = ..., files_ignored: _Optional[int] = ..., samples: _Optional[int] = ..., files_omitted: _Optional[int] = ...) -> None: ...
