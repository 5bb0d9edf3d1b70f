"""Joint audio-video training on the tiny preset: audio latents, both losses, audio LoRA keys.

A clip with a soundtrack (a chord that rises in pitch) is encoded with the real audio VAE through our
own mel front end; a LoRA trained jointly lowers the audio velocity loss at fixed noise levels and
noises, and adapts all six attention types. A video-only run adapts only attn1/attn2.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.config import TrainConfig
from train_svc.training.trainer import LoraTrainer, TrainingSample

HEIGHT = WIDTH = 64
FRAMES = 17
FPS = 24.0
SAMPLE_RATE = 16_000
CAPTION = "zqx a rising chord over drifting stripes"
FIXED_SIGMAS = (0.3, 0.6, 0.9)


def rising_chord(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    left = 0.4 * np.sin(2 * np.pi * (300 + 200 * t) * t)
    right = 0.4 * np.sin(2 * np.pi * (450 + 300 * t) * t)
    return np.stack([left, right]).astype(np.float32)


@pytest.fixture(scope="module")
def audio_encoder(tiny_model, placement):
    encoder = AudioEncoder(tiny_model.path, placement)
    yield encoder
    encoder.close()


@pytest.fixture(scope="module")
def sample(video_encoder, caption_encoder, audio_encoder, make_clip) -> TrainingSample:
    clip = make_clip(FRAMES, HEIGHT, WIDTH, base=(0.9, 0.4, 0.0), accent=(0.0, 0.2, 0.8), direction=1)
    duration = FRAMES / FPS
    return TrainingSample(
        "chord",
        video_encoder.encode(clip, FPS),
        caption_encoder.encode(CAPTION),
        audio_encoder.encode(rising_chord(duration), SAMPLE_RATE, duration),
    )


def test_audio_latents_have_the_pipelines_token_count_and_are_normalised(sample, audio_encoder) -> None:
    tokens = sample.audio.tokens
    assert tokens.shape == (1, round(FRAMES / FPS * 25), 32)  # 25 latents per second; 2 channels x 16 bins
    assert torch.isfinite(tokens).all()
    with pytest.raises(ValueError, match="16000 Hz"):
        audio_encoder.encode(rising_chord(1.0), 44_100, 1.0)


def _fixed_audio_loss(trainer: LoraTrainer, sample: TrainingSample) -> float:
    generator = torch.Generator().manual_seed(99)
    losses = []
    trainer.transformer.eval()
    with torch.no_grad():
        for sigma in FIXED_SIGMAS:
            noise = torch.randn(sample.latents.tokens.shape, generator=generator)
            audio_noise = torch.randn(sample.audio.tokens.shape, generator=generator)
            s = torch.tensor([sigma])
            losses.append(trainer.joint_loss(sample, s, noise, s, audio_noise)[1].item())
    return float(np.mean(losses))


@pytest.mark.integration  # 120 joint steps: ~8 s
def test_joint_training_lowers_the_audio_loss_and_adapts_audio_attention(tiny_model, placement, sample) -> None:
    config = TrainConfig(rank=8, learning_rate=5e-3, steps=120, audio=True, seed=3)
    trainer = LoraTrainer(tiny_model.path, placement, config)
    before = _fixed_audio_loss(trainer, sample)
    reports = []
    trainer.train([sample], on_step=reports.append)
    after = _fixed_audio_loss(trainer, sample)
    first, last = np.mean([r.audio_loss for r in reports[:20]]), np.mean([r.audio_loss for r in reports[-20:]])
    print(f"\nfixed-probe audio loss {before:.4f} -> {after:.4f}; step audio loss {first:.4f} -> {last:.4f}")

    assert all(r.audio_loss > 0 and r.loss == pytest.approx(r.video_loss + r.audio_loss) for r in reports)
    assert after < 0.8 * before
    kinds = {key.split(".")[2] for key in trainer.lora_state_dict()}
    assert kinds == {"attn1", "attn2", "audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn"}


def test_a_video_only_run_has_no_audio_keys_and_no_audio_loss(tiny_model, placement, sample) -> None:
    config = TrainConfig(rank=4, learning_rate=1e-3, steps=3, seed=3)
    trainer = LoraTrainer(tiny_model.path, placement, config)
    reports = []
    trainer.train([sample], on_step=reports.append)
    assert {key.split(".")[2] for key in trainer.lora_state_dict()} == {"attn1", "attn2"}
    assert [r.audio_loss for r in reports] == [0.0, 0.0, 0.0]


def test_audio_training_refuses_a_sample_without_audio(tiny_model, placement, sample) -> None:
    silent = TrainingSample("silent", sample.latents, sample.caption)
    trainer = LoraTrainer(tiny_model.path, placement, TrainConfig(rank=4, learning_rate=1e-3, steps=2, audio=True))
    with pytest.raises(ValueError, match="sample silent has no audio to train on"):
        trainer.train([sample, silent])  # the first epoch trains both samples
