"""EstimateTrainingJob on the real service stack (authentication on): the service's estimate of a request on its
own base model and settings, exactly what the estimator gives for them here, with no job made and no dataset."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.errors import error_details
from shared.request.validate import resolve
from tests.e2e.conftest import PREVIEW_STEPS
from train_svc.estimate.estimator import PARTS
from train_svc.estimate.job_shape import JobShape
from train_svc.estimate.model_spec import ModelSpec
from train_svc.estimate.preflight import PreflightQuestion, gpu_plan, preflight
from train_svc.models.base_model import resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration

INPUT = pb.TrainingInput(  # no training_data_url: an estimate fetches nothing
    rank=16,
    number_of_steps=300,
    number_of_frames=17,
    resolution=common_pb2.RESOLUTION_LOW,
    aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    validation=[pb.ValidationPrompt(prompt="a red ball")],
    validation_number_of_frames=9,
)


def _plain(message: Message) -> Any:
    """A message as the estimator's as_json() spells it: every field by name, nested messages as dicts."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.type == field.TYPE_MESSAGE:
            value = [_plain(item) for item in value] if field.is_repeated else _plain(value)
        out[field.name] = value
    return out


def _estimate(services, principal: str = "alice", **fields) -> pb.EstimateTrainingJobResponse:
    request = pb.EstimateTrainingJobRequest(**{"input": INPUT, **fields})
    return services.stack.stub(principal).EstimateTrainingJob(request, timeout=300)


def _refused(services, request: pb.EstimateTrainingJobRequest) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        services.stub.EstimateTrainingJob(request, timeout=60)
    bad_request, info = error_details(caught.value)
    assert info is not None
    fields = {v.field: v.description for v in bad_request.field_violations} if bad_request else {}
    return caught.value.code(), info.reason, fields


def test_the_estimate_is_the_estimators_on_the_services_model_and_settings(services):
    jobs_before = services.stub.ListTrainingJobs(pb.ListTrainingJobsRequest()).training_jobs
    response = _estimate(services, gpu="l40s", base_weights="int8", width=256, height=160, frames=25)

    assert sum(getattr(response.parts, part) for part in PARTS) == response.training_peak_bytes
    assert response.peak_memory_bytes == max(response.training_peak_bytes, response.encoding_peak_bytes)
    assert response.parts.encoders > 0  # a validation prompt: the preview helpers are on the device
    assert (response.model, response.gpu, response.fits) == (PRESET_NAME, "l40s", True)
    assert response.settings == "--base-weights int8"
    assert [gpu.gpu for gpu in response.gpus] == ["h100", "h200", "a100-80gb", "l40s", "rtx4090", "rtx5090"]

    base = resolve_base_model(PRESET_NAME)
    shape = JobShape.of_settings(
        resolve(INPUT, url_required=False), feed_forward=False, preview_steps=PREVIEW_STEPS, world_size=1
    )
    here = preflight(
        ModelSpec.from_directory(base.path, base.name),
        shape,
        gpu_plan("auto", "auto", True, 0),  # the stack's training service runs with the default memory settings
        PreflightQuestion("l40s", "int8", 256, 160, 25),
    )
    assert _plain(response) == here.as_json()
    # nothing was created: an estimate is no job
    assert services.stub.ListTrainingJobs(pb.ListTrainingJobsRequest()).training_jobs == jobs_before


def test_defaults_are_h100_and_the_services_base_weights_and_unset_audio_counts_as_audio(services):
    unset = _estimate(services)
    assert (unset.gpu, unset.settings) == ("h100", "--base-weights bf16")
    video_only = _estimate(services, input=pb.TrainingInput(**{**_fields(INPUT), "with_audio": False}))
    assert unset.tokens_per_sample > video_only.tokens_per_sample
    assert unset.parts.activations > video_only.parts.activations
    with_audio = _estimate(services, input=pb.TrainingInput(**{**_fields(INPUT), "with_audio": True}))
    assert _plain(with_audio) == _plain(unset)


def _fields(message: pb.TrainingInput) -> dict[str, Any]:
    return {field.name: value for field, value in message.ListFields()}


def test_every_bad_field_is_named_in_one_invalid_argument(services):
    request = pb.EstimateTrainingJobRequest(
        input=pb.TrainingInput(rank=31, number_of_steps=150), gpu="tpu-v5", base_weights="int4", width=100, frames=10
    )
    code, reason, fields = _refused(services, request)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ESTIMATE_REQUEST")
    assert set(fields) == {"input.rank", "input.number_of_steps", "gpu", "base_weights", "width", "frames"}
    assert "multiple of 32" in fields["width"] and "h100" in fields["gpu"]

    # an explicit zero is a value, checked like any other
    _, _, fields = _refused(services, pb.EstimateTrainingJobRequest(height=0))
    assert set(fields) == {"height"}


def test_fields_over_their_maximum_are_refused_before_any_work(services):
    code, reason, fields = _refused(services, pb.EstimateTrainingJobRequest(gpu="h" * 33))
    assert (code, reason, set(fields)) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_TOO_LONG", {"gpu"})
    long_phrase = pb.TrainingInput(trigger_phrase="t" * 257)
    code, reason, fields = _refused(services, pb.EstimateTrainingJobRequest(input=long_phrase, width=33))
    assert (code, reason, set(fields)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ESTIMATE_REQUEST",
        {"input.trigger_phrase", "width"},
    )


def test_an_unauthenticated_caller_gets_no_estimate(services):
    with grpc.insecure_channel(services.training_target) as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.TrainingServiceStub(channel).EstimateTrainingJob(pb.EstimateTrainingJobRequest(), timeout=60)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    _, info = error_details(caught.value)
    assert info is not None and info.reason == "MISSING_CREDENTIALS"
