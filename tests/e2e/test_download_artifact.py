"""TrainingService.DownloadArtifact: every output of a job and a generated video, byte for byte."""

from __future__ import annotations

import hashlib

import grpc
import pytest

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri
from shared.grpc_util.errors import error_details

pytestmark = pytest.mark.integration

OUTPUTS = ("lora_file", "config_file", "dataset_report", "result_file")


def _download(services, name: str, artifact: str = "", offset: int = 0) -> tuple[common_pb2.Artifact, bytes]:
    request = pb.DownloadArtifactRequest(name=name, artifact=artifact, offset=offset)
    messages = list(services.stub.DownloadArtifact(request, timeout=60))
    assert messages[0].HasField("artifact") and not any(m.HasField("artifact") for m in messages[1:])
    data, position = b"", offset
    for message in messages:
        assert message.offset == position and len(message.data) <= 1 << 20
        data += message.data
        position += len(message.data)
    return messages[0].artifact, data


def _refusal(services, code: grpc.StatusCode, name: str, artifact: str = "", offset: int = 0) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        list(services.stub.DownloadArtifact(pb.DownloadArtifactRequest(name=name, artifact=artifact, offset=offset)))
    assert caught.value.code() == code, caught.value.details()
    return error_details(caught.value)[1].reason


def test_every_output_of_a_job_downloads_intact_and_resumes(services, finished_job):
    for field in OUTPUTS:
        recorded = getattr(finished_job.result, field)
        artifact, data = _download(services, finished_job.name, field)
        assert artifact == recorded
        assert data == path_from_uri(recorded.uri).read_bytes()
        assert hashlib.sha256(data).hexdigest() == recorded.sha256
        half = len(data) // 2
        _, rest = _download(services, finished_job.name, field, offset=half)
        assert data[:half] + rest == data
    _, nothing = _download(services, finished_job.name, "lora_file", offset=finished_job.result.lora_file.size_bytes)
    assert nothing == b""


def test_a_preview_is_found_by_its_file_name(services, finished_job):
    previews = services.storage / "jobs" / finished_job.name.removeprefix("trainingJobs/") / "outputs" / "previews"
    previews.mkdir(exist_ok=True)
    content = bytes(range(256)) * 9000  # a little over 2 MiB: three chunks
    (previews / "step_00100_0.mp4").write_bytes(content)
    artifact, data = _download(services, finished_job.name, "step_00100_0.mp4")
    assert data == content and artifact.sha256 == hashlib.sha256(content).hexdigest()
    assert artifact.size_bytes == len(content) and artifact.name == "step_00100_0.mp4"


def test_a_generated_video_downloads_intact(services):
    events = list(
        services.stub.GenerateVideo(
            gen_pb.GenerateVideoRequest(
                prompt="a red ball",
                number_of_frames=9,
                steps=2,
                resolution=common_pb2.RESOLUTION_LOW,
                aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
            ),
            timeout=300,
        )
    )
    result = events[-1].result
    for artifact_name in ("video", ""):
        artifact, data = _download(services, result.name, artifact_name)
        assert artifact.sha256 == result.video.sha256 == hashlib.sha256(data).hexdigest()
        assert data == path_from_uri(result.video.uri).read_bytes()
    _, tail = _download(services, result.name, offset=100)
    assert tail == data[100:]


def test_unknown_names_bad_offsets_and_escapes_are_refused(services, finished_job):
    not_found = grpc.StatusCode.NOT_FOUND
    assert _refusal(services, not_found, "trainingJobs/0123456789abcdef", "lora_file") == "JOB_NOT_FOUND"
    assert _refusal(services, not_found, finished_job.name, "video") == "ARTIFACT_NOT_FOUND"  # no validation prompts
    assert _refusal(services, not_found, finished_job.name, "nope.mp4") == "ARTIFACT_NOT_FOUND"
    assert _refusal(services, not_found, "generations/0123456789abcdef") == "ARTIFACT_NOT_FOUND"
    assert _refusal(services, not_found, "generations/../jobs") == "ARTIFACT_NOT_FOUND"
    assert _refusal(services, not_found, "models/x") == "ARTIFACT_NOT_FOUND"
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for escape in ("../outputs/lora.safetensors", "..", "a/b.mp4"):
        assert _refusal(services, invalid, finished_job.name, escape) == "INVALID_ARTIFACT_NAME"
    size = finished_job.result.lora_file.size_bytes
    for offset in (-1, size + 1):
        assert _refusal(services, invalid, finished_job.name, "lora_file", offset) == "INVALID_OFFSET"
