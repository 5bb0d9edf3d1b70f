"""TrainingService.GenerateVideo over real gRPC on the tiny preset: progress, preview, result, errors."""

from __future__ import annotations

import io
import time

import av
import grpc
import numpy as np
import pytest
from PIL import Image

from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.auth import owner_key
from shared.bundle import path_from_uri, sha256_file
from shared.grpc_util.errors import error_details
from shared.uploads_layout import owner_uploads_dir
from tests.e2e.conftest import SMALL_GENERATION as SMALL
from tests.lora_files import random_lora_state, write_test_lora
from train_svc.models.base_model import resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration


def _generate(services, **fields) -> tuple[list[gen_pb.GenerateVideoResponse], gen_pb.GenerationResult]:
    events = list(services.stub.GenerateVideo(gen_pb.GenerateVideoRequest(**{**SMALL, **fields}), timeout=300))
    assert events[-1].HasField("result")
    return events, events[-1].result


def _frames(result: gen_pb.GenerationResult) -> np.ndarray:
    with av.open(str(path_from_uri(result.video.uri))) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _refused(services, code: grpc.StatusCode, **fields) -> tuple[list[str], str]:
    with pytest.raises(grpc.RpcError) as caught:
        list(services.stub.GenerateVideo(gen_pb.GenerateVideoRequest(**{**SMALL, **fields}), timeout=60))
    assert caught.value.code() == code, caught.value.details()
    bad_request, info = error_details(caught.value)
    return [v.field for v in bad_request.field_violations] if bad_request else [], info.reason


@pytest.fixture(scope="module")
def base(services):
    return _generate(services)


def test_a_generation_streams_progress_a_preview_and_a_stored_mp4(services, base):
    events, result = base
    stages = [(e.progress.stage, e.progress.step, e.progress.total_steps) for e in events if e.HasField("progress")]
    assert stages == [
        (gen_pb.GENERATION_STAGE_QUEUED, 0, 2),
        (gen_pb.GENERATION_STAGE_LOADING, 0, 2),
        (gen_pb.GENERATION_STAGE_SAMPLING, 1, 2),
        (gen_pb.GENERATION_STAGE_SAMPLING, 2, 2),
        (gen_pb.GENERATION_STAGE_ENCODING, 2, 2),
    ]
    assert events[-2].HasField("preview_jpeg")
    preview = Image.open(io.BytesIO(events[-2].preview_jpeg))
    assert preview.format == "JPEG" and preview.size == (512, 288)
    generation_id = result.name.removeprefix("generations/")
    path = path_from_uri(result.video.uri)
    assert path == services.storage.resolve() / "generations" / owner_key("alice") / generation_id / "video.mp4"
    assert result.video.name == "video" and result.seed == 3 and result.seconds > 0
    assert sha256_file(path) == result.video.sha256 and path.stat().st_size == result.video.size_bytes
    assert not [p for p in path.parent.iterdir() if p.name != "video.mp4"]  # no temporary file left
    assert _frames(result).shape == (9, 288, 512, 3)


def test_same_seed_and_lora_give_identical_frames_and_the_lora_acts(services, base, finished_job):
    _, first = _generate(services, job=finished_job.name)
    _, second = _generate(services, job=finished_job.name)
    assert first.name != second.name
    assert np.array_equal(_frames(first), _frames(second))
    assert np.abs(_frames(first).astype(int) - _frames(base[1]).astype(int)).mean() > 2

    lora_uri = finished_job.result.lora_file.uri  # the same LoRA named by file, on the service's storage
    _, off = _generate(services, lora_file=lora_uri, lora_scale=0.0)
    assert np.array_equal(_frames(off), _frames(base[1]))


def test_a_bad_request_lists_every_bad_field(services):
    fields, reason = _refused(
        services,
        grpc.StatusCode.INVALID_ARGUMENT,
        prompt=" ",
        number_of_frames=3,
        steps=0,
        stg_scale=9,
        guidance_scale=0.5,
        resolution=42,
        lora_file="/etc/passwd",
    )
    assert reason == "INVALID_GENERATION_REQUEST"
    assert fields == ["resolution", "lora_file", "prompt", "number_of_frames", "steps", "guidance_scale", "stg_scale"]


def test_a_lora_file_outside_the_storage_is_refused(services, tmp_path):
    outside = write_test_lora(tmp_path / "lora.safetensors", random_lora_state(resolve_base_model(PRESET_NAME).path))
    escaping = f"jobs/../../{tmp_path.name}/lora.safetensors"
    for value in (
        str(outside),
        outside.as_uri(),
        escaping,
        "http://example.com/lora.safetensors",
        "missing.safetensors",
    ):
        assert _refused(services, grpc.StatusCode.INVALID_ARGUMENT, lora_file=value)[0] == ["lora_file"], value


def test_a_lora_that_does_not_fit_the_model_fails_the_request_not_the_service(services, finished_job):
    state = random_lora_state(resolve_base_model(PRESET_NAME).path)
    deeper = {k.replace("transformer_blocks.1.", "transformer_blocks.30."): v for k, v in state.items()}
    misfit = write_test_lora(owner_uploads_dir(services.storage, "alice") / "deeper.safetensors", deeper)
    _, reason = _refused(services, grpc.StatusCode.FAILED_PRECONDITION, lora_file=str(misfit))
    assert reason == "LORA_MISMATCH"


def test_unknown_and_unfinished_jobs_are_refused(services, tmp_path):
    assert _refused(services, grpc.StatusCode.NOT_FOUND, job="trainingJobs/0123456789abcdef")[1] == "JOB_NOT_FOUND"
    assert _refused(services, grpc.StatusCode.INVALID_ARGUMENT, job="jobs/1")[0] == ["job"]
    failed, _ = services.run(training_data_url=str(tmp_path / "missing.zip"))
    assert failed.state == pb.TrainingJob.State.STATE_FAILED
    assert _refused(services, grpc.StatusCode.FAILED_PRECONDITION, job=failed.name)[1] == "JOB_NOT_FINISHED"


def test_a_cancelled_generation_stops_and_leaves_no_file(services):
    folder = services.storage / "generations" / owner_key("alice")
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    call = services.stub.GenerateVideo(gen_pb.GenerateVideoRequest(**{**SMALL, "steps": 100}), timeout=300)
    for event in call:
        if event.progress.stage == gen_pb.GENERATION_STAGE_SAMPLING:
            break
    call.cancel()
    started = time.monotonic()
    _, result = _generate(services)  # waits for the pipeline: free at once, not after 100 steps
    assert time.monotonic() - started < 15
    assert set(folder.iterdir()) - before == {path_from_uri(result.video.uri).parent}
