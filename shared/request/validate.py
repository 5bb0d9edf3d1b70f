"""resolve(): the spec's rules applied to a TrainingInput, giving TrainingSettings or every violation at once.

Fields that are proto3 `optional` take their default only when unset; an explicit value, even 0, is
checked like any other. Enum fields at *_UNSPECIFIED take their default; unknown enum numbers are errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from google.protobuf.message import Message

from shared.api import common_pb2, training_service_pb2
from shared.quoting import quote
from shared.request import defaults
from shared.request.defaults import AspectRatio, Resolution
from shared.request.errors import FieldViolation, InvalidRequest
from shared.request.field_limits import length_violations
from shared.request.ranges import (
    BATCH_SIZE_MAX,
    BATCH_SIZE_MIN,
    FRAME_RATE_MAX,
    FRAME_RATE_MIN,
    FRAMES_MAX,
    FRAMES_MIN,
    LEARNING_RATE_MAX,
    RANKS,
    SPLIT_THRESHOLD_MAX,
    SPLIT_THRESHOLD_MIN,
    STEPS_MAX,
    STEPS_MIN,
    STEPS_MULTIPLE,
    STG_SCALE_MAX,
    STG_SCALE_MIN,
    URL_SCHEMES,
    snap_frames,
)
from shared.request.settings import TrainingSettings

RESOLUTIONS: dict[common_pb2.Resolution.ValueType, Resolution] = {
    common_pb2.RESOLUTION_LOW: Resolution.LOW,
    common_pb2.RESOLUTION_MEDIUM: Resolution.MEDIUM,
    common_pb2.RESOLUTION_HIGH: Resolution.HIGH,
}
ASPECT_RATIOS: dict[common_pb2.AspectRatio.ValueType, AspectRatio] = {
    common_pb2.ASPECT_RATIO_16_9: AspectRatio.LANDSCAPE_16_9,
    common_pb2.ASPECT_RATIO_1_1: AspectRatio.SQUARE_1_1,
    common_pb2.ASPECT_RATIO_9_16: AspectRatio.PORTRAIT_9_16,
}

_E = TypeVar("_E", Resolution, AspectRatio)


UrlProblem = Callable[[str], str | None]  # a service's own check of training_data_url (where it may fetch)


def resolve(
    input: training_service_pb2.TrainingInput, url_problem: UrlProblem | None = None, *, url_required: bool = True
) -> TrainingSettings:
    """Apply defaults, check every rule and snap frame counts; raise InvalidRequest listing all violations.

    `url_problem`: the service's fetch policy, asked about a training_data_url that is well formed.
    `url_required=False` (an estimate, which fetches nothing): an empty training_data_url is no problem.
    A field over its maximum (shared.request.field_limits) is reported as that, and no other rule judges it."""
    too_long = length_violations(input)
    rules = _Rules(input, url_problem, frozenset(v.field for v in too_long), url_required=url_required)
    settings = TrainingSettings(
        training_data_url=rules.url("training_data_url"),
        trigger_phrase=input.trigger_phrase,
        rank=rules.one_of("rank", defaults.RANK, RANKS),
        number_of_steps=rules.int_between(
            "number_of_steps", defaults.NUMBER_OF_STEPS, STEPS_MIN, STEPS_MAX, STEPS_MULTIPLE
        ),
        learning_rate=rules.learning_rate("learning_rate", defaults.LEARNING_RATE),
        number_of_frames=rules.frames("number_of_frames", defaults.NUMBER_OF_FRAMES),
        frame_rate=rules.int_between("frame_rate", defaults.FRAME_RATE, FRAME_RATE_MIN, FRAME_RATE_MAX),
        resolution=rules.enum("resolution", defaults.RESOLUTION, RESOLUTIONS),
        aspect_ratio=rules.enum("aspect_ratio", defaults.ASPECT_RATIO, ASPECT_RATIOS),
        auto_scale_input=input.auto_scale_input,
        split_input_into_scenes=rules.optional("split_input_into_scenes", defaults.SPLIT_INPUT_INTO_SCENES),
        split_input_duration_threshold=rules.float_between(
            "split_input_duration_threshold",
            defaults.SPLIT_INPUT_DURATION_THRESHOLD,
            SPLIT_THRESHOLD_MIN,
            SPLIT_THRESHOLD_MAX,
        ),
        with_audio=rules.optional("with_audio", defaults.WITH_AUDIO),
        audio_normalize=rules.optional("audio_normalize", defaults.AUDIO_NORMALIZE),
        audio_preserve_pitch=rules.optional("audio_preserve_pitch", defaults.AUDIO_PRESERVE_PITCH),
        validation=rules.prompts("validation"),
        validation_negative_prompt=rules.optional("validation_negative_prompt", defaults.VALIDATION_NEGATIVE_PROMPT),
        validation_number_of_frames=rules.frames("validation_number_of_frames", defaults.VALIDATION_NUMBER_OF_FRAMES),
        validation_frame_rate=rules.int_between(
            "validation_frame_rate", defaults.VALIDATION_FRAME_RATE, FRAME_RATE_MIN, FRAME_RATE_MAX
        ),
        validation_resolution=rules.enum("validation_resolution", defaults.VALIDATION_RESOLUTION, RESOLUTIONS),
        validation_aspect_ratio=rules.enum("validation_aspect_ratio", defaults.VALIDATION_ASPECT_RATIO, ASPECT_RATIOS),
        stg_scale=rules.float_between("stg_scale", defaults.STG_SCALE, STG_SCALE_MIN, STG_SCALE_MAX),
        debug_dataset=input.debug_dataset,
        batch_size=rules.batch_size("batch_size"),
    )
    if too_long or rules.violations:
        raise InvalidRequest(too_long + rules.violations)
    return settings


class _Rules:
    """Reads the fields of one TrainingInput. Each reader returns the value to use (the default when the
    field is unset or bad) and records a FieldViolation for a bad one."""

    def __init__(
        self,
        message: training_service_pb2.TrainingInput,
        url_problem: UrlProblem | None = None,
        judged: frozenset[str] = frozenset(),
        *,
        url_required: bool = True,
    ) -> None:
        self._message = message
        self._url_required = url_required
        self._url_problem = url_problem
        self._judged = judged  # fields already reported (over their maximum)
        self.violations: list[FieldViolation] = []

    def _reject(self, field: str, description: str) -> None:
        if field not in self._judged:
            self.violations.append(FieldViolation(field, description))

    def optional(self, name: str, default):
        message: Message = self._message  # `name` is any optional field's: the untyped HasField
        return getattr(message, name) if message.HasField(name) else default

    def url(self, name: str) -> str:
        url = getattr(self._message, name).strip()
        if not url:
            if self._url_required:
                self._reject(name, "is required: the URL or path of the .zip archive of training clips")
            return url
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # e.g. an unclosed [ of an IPv6 literal
            self._reject(name, f"is not a valid URL ({exc}): {quote(url)}")
            return url
        scheme = parts.scheme.lower()
        allowed = ", ".join(f"{s}://" for s in URL_SCHEMES)
        if scheme and scheme not in URL_SCHEMES:
            self._reject(name, f"must be a path or a URL with a scheme among {allowed} (got {quote(url)})")
        elif scheme in ("http", "https") and not parts.hostname:
            self._reject(name, f"must name a host after {scheme}:// (got {quote(url)})")
        elif scheme and not (parts.netloc or parts.path):
            self._reject(name, f"must name an archive after {scheme}:// (got {quote(url)})")
        elif self._url_problem is not None and (problem := self._url_problem(url)):
            self._reject(name, problem)
        return url

    def one_of(self, name: str, default: int, allowed: Collection[int]) -> int:
        value = self.optional(name, default)
        if value not in allowed:
            self._reject(name, f"must be one of {', '.join(map(str, allowed))} (got {value})")
            return default
        return value

    def int_between(self, name: str, default: int, low: int, high: int, multiple_of: int = 1) -> int:
        value = self.optional(name, default)
        if low <= value <= high and value % multiple_of == 0:
            return value
        if multiple_of == 1:
            self._reject(name, f"must be between {low} and {high} (got {value})")
        else:
            self._reject(name, f"must be a multiple of {multiple_of} from {low} to {high} (got {value})")
        return default

    def batch_size(self, name: str) -> int | None:
        """None when unset: the service resolves it to its world size when it creates the job."""
        message: Message = self._message  # the untyped HasField, as in `optional`
        if not message.HasField(name):
            return None
        return self.int_between(name, BATCH_SIZE_MIN, BATCH_SIZE_MIN, BATCH_SIZE_MAX)

    def frames(self, name: str, default: int) -> int:
        return snap_frames(self.int_between(name, default, FRAMES_MIN, FRAMES_MAX))

    def float_between(self, name: str, default: float, low: float, high: float) -> float:
        value = self.optional(name, default)
        if math.isfinite(value) and low <= value <= high:
            return value
        self._reject(name, f"must be a finite number between {low} and {high} (got {value})")
        return default

    def learning_rate(self, name: str, default: float) -> float:
        value = self.optional(name, default)
        if math.isfinite(value) and 0.0 < value <= LEARNING_RATE_MAX:
            return value
        self._reject(name, f"must be a finite number above 0 and at most {LEARNING_RATE_MAX} (got {value})")
        return default

    def enum(self, name: str, default: _E, table: Mapping[Any, _E]) -> _E:
        number = getattr(self._message, name)
        if number == 0:  # *_UNSPECIFIED
            return default
        if number not in table:
            choices = ", ".join(member.value for member in table.values())
            self._reject(name, f"must be one of {choices} (got enum number {number})")
            return default
        return table[number]

    def prompts(self, name: str) -> tuple[str, ...]:
        entries = getattr(self._message, name)  # at most 2 entries: a field maximum (shared.request.field_limits)
        for index, entry in enumerate(entries):
            if not entry.prompt.strip():
                self._reject(f"{name}[{index}].prompt", "is required and must not be blank")
        return tuple(entry.prompt for entry in entries)
