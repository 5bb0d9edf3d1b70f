"""A GenerateVideoRequest checked as a whole: every bad field in one InvalidRequest, named as in the API.

The values are checked by GenerationRequest itself; this adds the API's enums, the base model's id (one the
service hosts; unset: the job's base, else the default) and the LoRA reference. A
LoRA file must be the caller's own (train_svc.generation.lora_access): a caller never gets a file of its
choosing read, nor another principal's.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf.message import Message

from shared.api import generation_pb2 as gen_pb
from shared.auth import Caller
from shared.quoting import quote
from shared.request import defaults
from shared.request.errors import FieldViolation, InvalidRequest
from shared.request.validate import ASPECT_RATIOS, RESOLUTIONS
from train_svc.api.base_models import unknown_base
from train_svc.generation.lora_access import LoraAccess, LoraNotAllowed
from train_svc.generation.order import GenerationOrder
from train_svc.generation.request import (
    AUDIO_GUIDANCE_SCALE,
    DEFAULT_NEGATIVE_PROMPT,
    GUIDANCE_SCALE,
    GenerationRequest,
    InvalidGenerationRequest,
)
from train_svc.jobs.job import NAME_PREFIX as JOB_PREFIX
from train_svc.models.base_registry import BaseModels

REASON = "INVALID_GENERATION_REQUEST"
# GenerationRequest's names for the fields the API spells differently.
_API_FIELDS = {"num_frames": "number_of_frames"}


def _enum(message: gen_pb.GenerateVideoRequest, name: str, table: dict, default, violations: list[FieldViolation]):
    number = getattr(message, name)
    if number == 0:
        return default
    if number not in table:
        choices = ", ".join(member.value for member in table.values())
        violations.append(FieldViolation(name, f"must be one of {choices} (got enum number {number})"))
        return default
    return table[number]


def _lora_file(value: str, caller: Caller, access: LoraAccess, violations: list[FieldViolation]) -> Path | None:
    if not value:
        violations.append(FieldViolation("lora_file", "must not be empty"))
        return None
    try:
        return access.resolve(value, caller)
    except LoraNotAllowed as exc:
        violations.append(FieldViolation("lora_file", str(exc)))
        return None


def generation_order(
    message: gen_pb.GenerateVideoRequest, caller: Caller, access: LoraAccess, bases: BaseModels
) -> GenerationOrder:
    """Check every field; raise InvalidRequest listing all problems."""
    violations: list[FieldViolation] = []
    if (violation := unknown_base(bases, message.base_model, "base_model")) is not None:
        violations.append(violation)
    resolution = _enum(message, "resolution", RESOLUTIONS, defaults.Resolution.MEDIUM, violations)
    aspect = _enum(message, "aspect_ratio", ASPECT_RATIOS, defaults.AspectRatio.SQUARE_1_1, violations)
    width, height = defaults.pixel_size(resolution, aspect)
    job = lora_path = None
    source = message.WhichOneof("lora")
    if source == "job":
        job = message.job
        if not job.startswith(JOB_PREFIX) or job == JOB_PREFIX:
            violations.append(FieldViolation("job", f"must be {JOB_PREFIX}{{id}} (got {quote(job)})"))
    elif source == "lora_file":
        lora_path = _lora_file(message.lora_file, caller, access, violations)

    fields: Message = message  # HasField by a name computed at run time

    def value(name: str, default):
        return getattr(message, name) if fields.HasField(name) else default

    request = None
    try:
        request = GenerationRequest(
            prompt=message.prompt,
            negative_prompt=value("negative_prompt", DEFAULT_NEGATIVE_PROMPT),
            seed=value("seed", GenerationRequest.seed),
            num_frames=value("number_of_frames", defaults.NUMBER_OF_FRAMES),
            frame_rate=value("frame_rate", defaults.FRAME_RATE),
            width=width,
            height=height,
            steps=value("steps", GenerationRequest.steps),
            guidance_scale=value("guidance_scale", GUIDANCE_SCALE),
            audio_guidance_scale=value("audio_guidance_scale", AUDIO_GUIDANCE_SCALE),
            stg_scale=value("stg_scale", defaults.STG_SCALE),
            lora_path=lora_path,
            lora_scale=value("lora_scale", 1.0),
            allow_version_mismatch=message.allow_version_mismatch,
        )
    except InvalidGenerationRequest as exc:
        violations += [FieldViolation(_API_FIELDS.get(field, field), problem) for field, problem in exc.problems]
    if violations or request is None:
        raise InvalidRequest(violations, reason=REASON)
    return GenerationOrder(request, job, message.base_model)
