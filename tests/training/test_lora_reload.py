"""A trained LoRA, written to disk and loaded by diffusers, behaves exactly like the trained transformer.

This is what users rely on when they take `lora.safetensors` to `LTX2Pipeline.load_lora_weights` (or
ComfyUI, same key format): alpha must survive the trip even though the format has no alpha field.
"""

from __future__ import annotations

import pytest
import torch

from train_svc.export.lora_file import LoraMetadata, write_lora
from train_svc.training.config import TrainConfig
from train_svc.training.trainer import LoraTrainer, TrainingSample, transformer_velocity

STEPS = 6
# (sigma, noise seed) pairs at which the velocities are compared
PROBES = [(0.15, 1), (0.5, 2), (0.9, 3)]


@pytest.fixture(scope="module")
def sample(video_encoder, caption_encoder, make_clip) -> TrainingSample:
    frames = make_clip(9, 64, 64, base=(0.1, 0.2, 1.0), accent=(0.9, 0.6, 0.0), direction=1)
    return TrainingSample(
        sample_id="reload",
        latents=video_encoder.encode(frames, 24.0),
        caption=caption_encoder.encode("zqx blue stripes"),
    )


def _velocities(transformer, sample: TrainingSample) -> list[torch.Tensor]:
    out = []
    with torch.no_grad():
        for sigma, seed in PROBES:
            noise = torch.randn(sample.latents.tokens.shape, generator=torch.Generator().manual_seed(seed))
            x0 = sample.latents.tokens
            noisy = (1 - sigma) * x0 + sigma * noise
            out.append(transformer_velocity(transformer, noisy, torch.tensor([sigma]), sample.latents, sample.caption))
    return out


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(rank=8, alpha=4, learning_rate=1e-2, steps=STEPS, feed_forward=True),
        TrainConfig(rank=4, alpha=16, learning_rate=1e-2, steps=STEPS),
        TrainConfig(rank=8, learning_rate=1e-2, steps=STEPS),
    ],
    ids=["rank8-alpha4-ffn", "rank4-alpha16-attn", "rank8-alpha=rank-attn"],
)
def test_exported_lora_reloads_into_diffusers_exactly(tmp_path, tiny_model, placement, sample, config):
    from diffusers import LTX2Pipeline

    trainer = LoraTrainer(tiny_model.path, placement, config)
    assert trainer.train([sample]) == STEPS
    trained = _velocities(trainer.transformer, sample)

    path = write_lora(
        tmp_path / "lora.safetensors",
        trainer.lora_state_dict(),
        LoraMetadata("zqx", config.rank, config.lora_alpha, tiny_model.name, STEPS, "t2v", False),
    )

    pipe = LTX2Pipeline.from_pretrained(tiny_model.path, local_files_only=True)
    base = _velocities(pipe.transformer, sample)
    pipe.load_lora_weights(str(path))
    reloaded = _velocities(pipe.transformer, sample)

    base_gap = _max_diff(base, trained)
    reload_gap = _max_diff(reloaded, trained)
    label = f"rank {config.rank} alpha {config.lora_alpha:g}"
    print(f"\n[{label}] base vs trained {base_gap:.3e}, reloaded vs trained {reload_gap:.3e}")
    assert base_gap > 1e-3, f"training did not change the transformer (max diff {base_gap:.2e})"
    assert reload_gap < 1e-4, f"reloaded LoRA differs from the trained one by {reload_gap:.2e} (base: {base_gap:.2e})"
