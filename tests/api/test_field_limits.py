"""Every string, bytes and repeated field a client sends has one maximum, stated alike in the table the
services enforce, in the field's proto comment, and in the README."""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from shared.api import generation_pb2 as gen_pb
from shared.api import preprocess_service_pb2, training_service_pb2
from shared.request.field_limits import FIELD_LIMITS, length_violations

ROOT = Path(__file__).resolve().parents[2]
SIZED = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)


def _request_fields() -> dict[str, FieldDescriptor]:
    """Every string, bytes or repeated field reachable from an RPC's request message."""
    found: dict[str, FieldDescriptor] = {}
    seen: set[str] = set()

    def walk(message: Descriptor) -> None:
        if message.full_name in seen or not message.full_name.startswith("ltx."):
            return
        seen.add(message.full_name)
        for field in message.fields:
            if field.is_repeated or field.type in SIZED:
                found[field.full_name] = field
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                walk(field.message_type)

    for module in (training_service_pb2, preprocess_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                walk(method.input_type)
    return found


def _proto_comments() -> dict[str, str]:
    """The comment block above each field of our protos, by the field's full name."""
    comments: dict[str, str] = {}
    for path in sorted((ROOT / "protos" / "ltx" / "trainer" / "v1").glob("*.proto")):
        stack: list[str] = []
        block: list[str] = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line.startswith("//"):
                block.append(line.removeprefix("//").strip())
                continue
            if match := re.match(r"(\w+)\s+(\w+)\s*\{", line):  # message, oneof, enum, service
                stack.append(match[2] if match[1] == "message" else "")
            elif line.startswith("}"):
                stack.pop()
            elif match := re.match(r"(?:optional |repeated )?[\w.]+\s+(\w+)\s*=\s*\d+;", line):
                message = ".".join(part for part in stack if part)
                comments[f"ltx.trainer.v1.{message}.{match[1]}"] = " ".join(block)
            block = []
    return comments


def test_every_field_a_client_sends_has_a_maximum_and_no_other_field_does():
    assert set(FIELD_LIMITS) == set(_request_fields())


def test_each_maximum_is_stated_in_the_fields_proto_comment():
    comments = _proto_comments()
    for name, limit in FIELD_LIMITS.items():
        assert f"At most {limit:,}" in comments[name] or f"at most {limit:,}" in comments[name], name


def test_the_readme_table_states_the_same_maximums():
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+\.\w+)` \| ([\d,]+) ", readme, re.MULTILINE))
    expected = {name.removeprefix("ltx.trainer.v1."): f"{limit:,}" for name, limit in FIELD_LIMITS.items()}
    assert rows == expected


def test_a_field_over_its_maximum_is_named_with_its_path_and_size():
    request = gen_pb.GenerateVideoRequest(prompt="p" * 10_001, lora_file="x")
    [violation] = length_violations(request)
    assert (violation.field, violation.description) == ("prompt", "must be at most 10,000 characters (got 10,001)")
    chunk = preprocess_service_pb2.UploadArchiveRequest(
        chunk=preprocess_service_pb2.UploadArchiveChunk(data=b"\0" * (4 * 1024 * 1024 + 1))
    )
    assert [v.field for v in length_violations(chunk)] == ["chunk.data"]
    nested = training_service_pb2.CreateTrainingJobRequest(
        input=training_service_pb2.TrainingInput(
            validation=[training_service_pb2.ValidationPrompt(prompt="v" * 10_001)]
        )
    )
    assert [v.field for v in length_violations(nested)] == ["input.validation[0].prompt"]
    assert length_violations(nested, skip=frozenset({"ltx.trainer.v1.TrainingInput"})) == []
