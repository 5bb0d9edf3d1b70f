"""The maximum of every string, bytes and repeated field a client can send, in one table.

Strings count characters, bytes count bytes, repeated fields count entries. The services check every
request against this table before any work (shared.grpc_util.request_limits); the proto comments and
the README's table state the same numbers, and a test keeps the three in step.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from shared.request.errors import FieldViolation

NAME_CHARS = 256  # resource names: "trainingJobs/{id}", "generations/{id}"
URL_CHARS = 2_048
PROMPT_CHARS = 10_000
TRIGGER_PHRASE_CHARS = 256
SHA256_CHARS = 64
CHOICE_CHARS = 32  # a name out of a short list: a GPU, a kind of base weights
BASE_ID_CHARS = 63  # a base model's id (train_svc.models.base_registry)
UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024

_V1 = "ltx.trainer.v1"
FIELD_LIMITS: dict[str, int] = {
    f"{_V1}.TrainingInput.training_data_url": URL_CHARS,
    f"{_V1}.TrainingInput.trigger_phrase": TRIGGER_PHRASE_CHARS,
    f"{_V1}.TrainingInput.validation": 2,  # the spec's own limit on validation prompts
    f"{_V1}.TrainingInput.validation_negative_prompt": PROMPT_CHARS,
    f"{_V1}.TrainingInput.base_model": BASE_ID_CHARS,
    f"{_V1}.ValidationPrompt.prompt": PROMPT_CHARS,
    f"{_V1}.CreateTrainingJobRequest.request_id": 128,
    f"{_V1}.GetTrainingJobRequest.name": NAME_CHARS,
    f"{_V1}.ListTrainingJobsRequest.page_token": 128,
    f"{_V1}.CancelTrainingJobRequest.name": NAME_CHARS,
    f"{_V1}.DeleteTrainingJobRequest.name": NAME_CHARS,
    f"{_V1}.WatchTrainingJobRequest.name": NAME_CHARS,
    f"{_V1}.WatchTrainingJobsRequest.states": 16,
    f"{_V1}.WatchTrainingJobsRequest.resume_token": 128,
    f"{_V1}.GenerateVideoRequest.prompt": PROMPT_CHARS,
    f"{_V1}.GenerateVideoRequest.negative_prompt": PROMPT_CHARS,
    f"{_V1}.GenerateVideoRequest.job": NAME_CHARS,
    f"{_V1}.GenerateVideoRequest.lora_file": URL_CHARS,
    f"{_V1}.GenerateVideoRequest.base_model": BASE_ID_CHARS,
    f"{_V1}.DownloadArtifactRequest.name": NAME_CHARS,
    f"{_V1}.DownloadArtifactRequest.artifact": NAME_CHARS,
    f"{_V1}.EstimateTrainingJobRequest.gpu": CHOICE_CHARS,
    f"{_V1}.EstimateTrainingJobRequest.base_weights": CHOICE_CHARS,
    f"{_V1}.PreprocessRequest.dataset_id": 16,
    f"{_V1}.PreprocessRequest.training_data_url": URL_CHARS,
    f"{_V1}.PreprocessRequest.trigger_phrase": TRIGGER_PHRASE_CHARS,
    f"{_V1}.PreprocessRequest.owner": 256,
    f"{_V1}.UploadArchiveHeader.file_name": 255,
    f"{_V1}.UploadArchiveHeader.sha256": SHA256_CHARS,
    f"{_V1}.UploadArchiveChunk.data": UPLOAD_CHUNK_BYTES,
    f"{_V1}.UploadArchiveChunk.sha256": SHA256_CHARS,
}


def _unit(field: FieldDescriptor) -> str:
    if field.is_repeated:
        return "entries"
    return "bytes" if field.type == FieldDescriptor.TYPE_BYTES else "characters"


def length_violations(message: Message, path: str = "", skip: frozenset[str] = frozenset()) -> list[FieldViolation]:
    """Every field of `message` (and of the messages inside it) over its maximum; messages whose full type
    name is in `skip` are left out (they check their own fields, among their other rules)."""
    violations: list[FieldViolation] = []
    if message.DESCRIPTOR.full_name in skip:
        return violations
    for field, value in message.ListFields():
        name = f"{path}{field.name}"
        limit = FIELD_LIMITS.get(field.full_name)
        size = len(value) if (field.is_repeated or field.type in (field.TYPE_STRING, field.TYPE_BYTES)) else None
        if limit is not None and size is not None and size > limit:
            verb = "have" if field.is_repeated else "be"
            violations.append(FieldViolation(name, f"must {verb} at most {limit:,} {_unit(field)} (got {size:,})"))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            items = value if field.is_repeated else [value]
            for index, item in enumerate(items):
                where = f"{name}[{index}]." if field.is_repeated else f"{name}."
                violations += length_violations(item, where, skip)
    return violations
