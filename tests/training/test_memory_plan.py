"""The memory settings on the tiny preset: a quantized base (int8, fp8) trains a LoRA close to the
full-precision one, block offload trains exactly the same LoRA, gradient checkpointing off changes only
memory, and the combinations that cannot work are refused before a job starts."""

from __future__ import annotations

import pytest
import torch

from train_svc.config import from_args
from train_svc.models.device import choose_placement
from train_svc.models.quantize import quantize_blocks
from train_svc.models.tensor_bytes import module_bytes
from train_svc.training.config import TrainConfig
from train_svc.training.lora_model import load_transformer
from train_svc.training.trainer import LoraTrainer, TrainingSample

CONFIG = TrainConfig(rank=8, learning_rate=1e-3, steps=3, seed=3)


@pytest.fixture(scope="module")
def sample(video_encoder, caption_encoder, make_clip) -> TrainingSample:
    clip = make_clip(17, 64, 64, base=(1.0, 0.0, 0.8), accent=(0.0, 0.3, 0.0), direction=1)
    return TrainingSample("clip", video_encoder.encode(clip, 24.0), caption_encoder.encode("zqx stripes"))


def _train(model_path, placement, sample, config=CONFIG) -> tuple[LoraTrainer, list[float]]:
    trainer = LoraTrainer(model_path, placement, config)
    losses: list[float] = []
    assert trainer.train([sample], on_step=lambda report: losses.append(report.loss)) == config.steps
    return trainer, losses


@pytest.fixture(scope="module")
def full_precision(tiny_model, placement, sample):
    trainer, losses = _train(tiny_model.path, placement, sample)
    return trainer.lora_state_dict(), losses


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


@pytest.mark.parametrize("kind, bytes_per_weight", [("int8", 1), ("fp8", 1)])
def test_a_quantized_base_trains_every_lora_tensor_close_to_the_full_precision_run(
    tiny_model, sample, full_precision, kind, bytes_per_weight
):
    placement = choose_placement("cpu", "fp32", kind)
    assert placement.base_weights == kind and placement.base_dtype == torch.float32
    trainer, losses = _train(tiny_model.path, placement, sample)
    lora, reference_losses = full_precision
    quantized = trainer.lora_state_dict()
    assert all(tensor.abs().sum() > 0 for name, tensor in quantized.items() if "lora_B" in name), "a LoRA B never moved"
    assert losses == pytest.approx(reference_losses, abs=5e-3)
    assert 0 < _max_difference(quantized, lora) < 2e-2  # the rounding of the weights shows, and stays small
    # The block linears hold one byte per weight (plus a scale per row); the LoRA stays float32.
    blocks = trainer.transformer.transformer_blocks
    weights = [m.weight for n, m in blocks.named_modules() if isinstance(m, torch.nn.Linear) and "lora_" not in n]
    quantized_weights = [w for w in weights if hasattr(w, "qdata")]
    assert len(quantized_weights) == len(weights) > 0
    assert all(w.qdata.element_size() == bytes_per_weight for w in quantized_weights)
    assert all(p.dtype == torch.float32 for p in trainer.lora_parameters)


def test_quantizing_the_blocks_shrinks_them_to_about_a_quarter(tiny_model, placement):
    transformer = load_transformer(tiny_model.path, placement)
    before = module_bytes(transformer.transformer_blocks)
    linears = quantize_blocks(transformer, "int8", torch.device("cpu"))
    after = module_bytes(transformer.transformer_blocks)
    assert linears > 0
    assert 0.2 * before < after < 0.4 * before, (before, after)


def test_offloaded_blocks_train_the_same_lora(tiny_model, sample, full_precision):
    placement = choose_placement("cpu", "fp32", offload_blocks=2)
    trainer, losses = _train(tiny_model.path, placement, sample)
    lora, reference_losses = full_precision
    assert losses == pytest.approx(reference_losses, abs=1e-6)
    assert _max_difference(trainer.lora_state_dict(), lora) <= 1e-6
    # Between passes the offloaded blocks' frozen weights are the host parameters, under their own names.
    weight = trainer.transformer.transformer_blocks[0].attn1.to_q.base_layer.weight
    assert isinstance(weight, torch.nn.Parameter) and not weight.requires_grad


def test_gradient_checkpointing_off_trains_the_same_lora(tiny_model, placement, sample, full_precision):
    config = TrainConfig(rank=8, learning_rate=1e-3, steps=3, seed=3, gradient_checkpointing=False)
    trainer, losses = _train(tiny_model.path, placement, sample, config)
    assert _max_difference(trainer.lora_state_dict(), full_precision[0]) <= 1e-6


def test_offload_without_gradient_checkpointing_is_refused(tiny_model):
    config = TrainConfig(rank=8, learning_rate=1e-3, steps=1, gradient_checkpointing=False)
    with pytest.raises(ValueError, match="needs gradient checkpointing"):
        LoraTrainer(tiny_model.path, choose_placement("cpu", "fp32", offload_blocks=1), config)


def test_more_offloaded_blocks_than_the_model_has_is_refused(tiny_model):
    with pytest.raises(ValueError, match="offload blocks must be 0..2"):
        LoraTrainer(tiny_model.path, choose_placement("cpu", "fp32", offload_blocks=3), CONFIG)


@pytest.mark.parametrize(
    "base_weights, precision, expected",
    [("auto", "auto", "fp32"), ("auto", "bf16", "bf16"), ("bf16", "auto", "bf16"), ("int8", "auto", "int8")],
)
def test_base_weights_follow_or_set_the_precision(base_weights, precision, expected):
    assert choose_placement("cpu", precision, base_weights).base_weights == expected


def test_base_weights_that_contradict_the_precision_are_refused():
    with pytest.raises(ValueError, match="--base-weights bf16 contradicts --precision fp32"):
        choose_placement("cpu", "fp32", "bf16")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--offload-blocks", "4", "--no-gradient-checkpointing"], "--offload-blocks needs --gradient-checkpointing"),
        (["--shard-base", "--base-weights", "int8"], "--shard-base cannot be combined"),
        (["--shard-base", "--offload-blocks", "2"], "--shard-base cannot be combined"),
    ],
)
def test_the_service_refuses_memory_settings_that_cannot_run(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        from_args(["--storage", str(tmp_path), "--preprocess-target", "127.0.0.1:1", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
