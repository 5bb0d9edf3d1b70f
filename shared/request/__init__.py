"""The training request: the spec's defaults, its rules, and the settings a job runs with."""

from shared.request.defaults import AspectRatio, Resolution, pixel_size
from shared.request.errors import DomainError, ErrorCode, FieldViolation, InvalidRequest
from shared.request.json_input import input_from_json, input_to_json
from shared.request.settings import TrainingSettings
from shared.request.validate import resolve, snap_frames

__all__ = [
    "AspectRatio",
    "DomainError",
    "ErrorCode",
    "FieldViolation",
    "InvalidRequest",
    "Resolution",
    "TrainingSettings",
    "input_from_json",
    "input_to_json",
    "pixel_size",
    "resolve",
    "snap_frames",
]
