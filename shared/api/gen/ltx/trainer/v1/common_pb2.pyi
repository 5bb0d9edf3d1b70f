from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

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
    __slots__ = ("sample_id", "uri", "sha256", "size_bytes", "frames", "height", "width", "fps", "caption", "source_path")
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
    def __init__(self, sample_id: _Optional[str] = ..., uri: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., frames: _Optional[int] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., fps: _Optional[float] = ..., caption: _Optional[str] = ..., source_path: _Optional[str] = ...) -> None: ...

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
