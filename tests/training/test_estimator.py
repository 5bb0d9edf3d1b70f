"""The pre-flight estimator: exact parts against the tiny preset's real tensors, the real model's figures, the
rules of its input, and what it suggests when a job does not fit."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from train_svc.estimate.estimator import PARTS, Estimator
from train_svc.estimate.gpus import GPUS
from train_svc.estimate.job_shape import JobShape, MemoryPlan
from train_svc.estimate.model_spec import ModelSpec
from train_svc.estimate.preflight import PreflightQuestion, check_question, gpu_plan, preflight
from train_svc.models.quantize import quantize_blocks
from train_svc.models.tensor_bytes import module_bytes
from train_svc.training.config import TrainConfig
from train_svc.training.lora_model import load_transformer
from train_svc.training.trainer import LoraTrainer
from train_svc.validation.renderer import PreviewRenderer

GIB = 1 << 30
# The default request: 89 frames, medium 1:1 (768x768), rank 32, with audio, 2,000 steps, no previews.
DEFAULT = JobShape(768, 768, 89, 24.0, True, 32, 2000, 1, False, 0, (960, 960, 89), 30, 2000)


@pytest.fixture(scope="module")
def tiny_spec(tiny_model) -> ModelSpec:
    return ModelSpec.from_directory(tiny_model.path)


@pytest.mark.parametrize("kind", ["fp32", "int8", "fp8"])
def test_base_bytes_are_the_loaded_transformers_own(tiny_model, tiny_spec, placement, kind):
    transformer = load_transformer(tiny_model.path, placement)
    if kind != "fp32":
        quantize_blocks(transformer, kind, torch.device("cpu"))
    assert tiny_spec.base_bytes(kind, "fp32")[0] == module_bytes(transformer)


@pytest.mark.parametrize("audio, feed_forward", [(False, False), (True, False), (False, True)])
def test_lora_parameters_are_the_trainers_own(tiny_model, tiny_spec, placement, audio, feed_forward):
    config = TrainConfig(rank=8, learning_rate=1e-4, steps=1, audio=audio, feed_forward=feed_forward)
    trainer = LoraTrainer(tiny_model.path, placement, config)
    expected = sum(p.numel() for p in trainer.lora_parameters)
    assert tiny_spec.lora_parameters(8, audio=audio, feed_forward=feed_forward) == expected


@pytest.mark.parametrize("version", ["2.3", "2.5"])
def test_the_preview_part_is_what_the_preview_renderer_brings_to_the_device(
    tiny_model, tiny_model_25, placement, version
):
    model = tiny_model if version == "2.3" else tiny_model_25
    renderer = PreviewRenderer(model.path, placement, load_transformer(model.path, placement))
    held = sum(p.numel() * p.element_size() for helper in renderer.helpers for p in helper.parameters())
    shape = dataclasses.replace(DEFAULT, validation_prompts=1)
    spec = ModelSpec.from_directory(model.path, version=model.version)
    parts, _, _ = Estimator(spec).memory(shape, MemoryPlan("fp32", "fp32"), on_gpu=False)
    assert parts["encoders"] == held
    assert ("diffusion_decoder" in spec.preview_helpers) == (version == "2.5")  # LTX-2.5 previews decode with it


def test_questions_are_checked_field_by_field():
    assert check_question(PreflightQuestion()) == {}
    problems = check_question(PreflightQuestion(gpu="tpu", base_weights="nf4", width=100, height=32, frames=10))
    assert set(problems) == {"gpu", "base_weights", "width", "height", "frames"}
    assert "h100" in problems["gpu"] and "multiple of 32" in problems["width"] and "8k+1" in problems["frames"]


@pytest.mark.parametrize(
    "precision, base_weights, expected",
    [("auto", "auto", ("bf16", "bf16")), ("auto", "int8", ("int8", "bf16")), ("fp32", "auto", ("fp32", "fp32"))],
)
def test_the_services_settings_give_the_plan_it_would_run_on_a_gpu(precision, base_weights, expected):
    plan = gpu_plan(precision, base_weights, True, 0)
    assert (plan.base_weights, plan.compute) == expected


def test_unset_audio_is_estimated_with_audio(tiny_spec):
    from shared.request.json_input import input_from_json
    from shared.request.validate import resolve

    settings = resolve(input_from_json({"training_data_url": "https://example.invalid/a.zip"}))
    shape = JobShape.of_settings(settings, feed_forward=False, preview_steps=30)
    assert shape.with_audio and shape.audio_tokens == round(89 / 24 * 25)
    assert (shape.width, shape.height, shape.frames, shape.rank) == (768, 768, 89, 32)


@pytest.fixture(scope="module")
def real() -> Estimator:
    return Estimator(ModelSpec.real())


@pytest.mark.integration  # traces of the real-size model on the meta device: ~10-20 s
def test_the_default_request_on_an_h100_and_on_a_32_gb_card(real):
    h100 = real.estimate(DEFAULT, MemoryPlan("bf16", "bf16"), GPUS["h100"])
    assert set(h100.parts) == set(PARTS) and sum(h100.parts.values()) == h100.training_peak_bytes
    assert h100.peak_memory_bytes == max(h100.training_peak_bytes, h100.encoding_peak_bytes)
    assert h100.parts["base_weights"] == ModelSpec.real().base_bytes("bf16", "bf16")[0]  # 35.4 GiB
    assert h100.parts["lora_and_optimizer"] == 213_909_504 * 16  # video + audio attention at rank 32
    assert 1 * GIB < h100.parts["activations"] < 20 * GIB
    assert h100.fits and not h100.suggestions
    assert h100.total_seconds > 2000 * h100.seconds_per_step * 0.99
    rtx5090 = real.estimate(DEFAULT, MemoryPlan("bf16", "bf16"), GPUS["rtx5090"])
    assert not rtx5090.fits and rtx5090.suggestions
    for suggestion in rtx5090.suggestions:  # each suggestion, estimated again, fits
        flags = suggestion.settings.split()
        plan = MemoryPlan(flags[1], "bf16", True, int(flags[3]) if "--offload-blocks" in flags else 0)
        assert real.estimate(DEFAULT, plan, GPUS["rtx5090"], suggest=False).fits
    speeds = {gpu.gpu: gpu.seconds_per_step for gpu in h100.gpus}
    assert speeds["h100"] < speeds["a100-80gb"] < speeds["rtx4090"]


@pytest.mark.integration  # traces of the real-size model on the meta device
def test_each_memory_setting_moves_its_own_part(real):
    bf16 = real.estimate(DEFAULT, MemoryPlan("bf16", "bf16"), GPUS["h100"], suggest=False)
    int8 = real.estimate(DEFAULT, MemoryPlan("int8", "bf16"), GPUS["h100"], suggest=False)
    offload = real.estimate(DEFAULT, MemoryPlan("bf16", "bf16", True, 8), GPUS["h100"], suggest=False)
    no_checkpointing = real.estimate(DEFAULT, MemoryPlan("bf16", "bf16", False, 0), GPUS["h100"], suggest=False)
    block = ModelSpec.real().base_bytes("bf16", "bf16")[1]
    assert 0.45 < int8.parts["base_weights"] / bf16.parts["base_weights"] < 0.6
    assert bf16.parts["base_weights"] - offload.parts["base_weights"] == 7 * block  # one block streams in
    assert offload.seconds_per_step > bf16.seconds_per_step  # the host link costs time
    assert no_checkpointing.parts["activations"] > 5 * bf16.parts["activations"]
    assert no_checkpointing.flops_per_step < bf16.flops_per_step  # no recomputation
    without_audio = real.estimate(dataclasses.replace(DEFAULT, with_audio=False), MemoryPlan("bf16", "bf16"), None)
    assert without_audio.tokens_per_sample < bf16.tokens_per_sample


@pytest.mark.integration  # traces of the real-size model on the meta device
def test_size_overrides_estimate_another_bucket(real):
    small = preflight(
        ModelSpec.real(), DEFAULT, MemoryPlan("bf16", "bf16"), PreflightQuestion(width=512, height=512, frames=49)
    )
    default = preflight(ModelSpec.real(), DEFAULT, MemoryPlan("bf16", "bf16"), PreflightQuestion())
    assert small.tokens_per_sample < default.tokens_per_sample
    assert small.parts["activations"] < default.parts["activations"]
    assert small.seconds_per_step < default.seconds_per_step


def test_the_service_admits_a_bounded_number_of_estimates_at_once(tiny_spec):
    import asyncio

    from shared.request.errors import DomainError, ErrorCode
    from shared.request.json_input import input_from_json
    from shared.request.validate import resolve
    from train_svc.api.job_estimate import MAX_PENDING_ESTIMATES, EstimateOrder, ServiceEstimates

    settings = resolve(input_from_json({"number_of_frames": 9}), url_required=False)
    estimates = ServiceEstimates(
        {"default": tiny_spec}, MemoryPlan("fp32", "fp32"), feed_forward=False, preview_steps=2, world_size=1
    )
    orders = [EstimateOrder(settings, PreflightQuestion(width=64 + 32 * i, height=64), "default") for i in range(6)]

    async def ask_all():
        return await asyncio.gather(*(estimates.estimate(order) for order in orders), return_exceptions=True)

    try:
        results = asyncio.run(ask_all())
    finally:
        estimates.close()
    busy = [r for r in results if isinstance(r, DomainError)]
    assert len(busy) == len(orders) - MAX_PENDING_ESTIMATES
    assert all(r.code is ErrorCode.RESOURCE_EXHAUSTED and r.reason == "ESTIMATES_BUSY" for r in busy)
    done = [r for r in results if not isinstance(r, DomainError)]
    assert len(done) == MAX_PENDING_ESTIMATES and all(r.gpu == "h100" and r.fits for r in done)  # a tiny model


def test_an_estimate_leaves_the_process_wide_generator_alone(tiny_spec):
    """The trainer seeds the global generator and draws its LoRA's initial weights from it: an estimate made
    by the service beside a training job must draw nothing from it."""
    shape = dataclasses.replace(DEFAULT, width=96, height=64, frames=17)
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    Estimator(tiny_spec).estimate(shape, MemoryPlan("fp32", "fp32", True, 0), GPUS["h100"])
    assert torch.equal(torch.rand(4), expected)
