"""Training actually teaches the model the clip: lower loss, and generations that move towards the clip.

One synthetic clip with a distinctive look (saturated magenta with green stripes drifting right) is
encoded with the real VAE and caption path, a LoRA is trained on it, exported, and loaded into a fresh
LTX2Pipeline. Then:
  (a) the velocity loss at a fixed, seeded set of noise levels and noises falls clearly;
  (b) latents sampled by the pipeline with the training caption (conditional pass only) land closer to
      the clip's latents than the base model's samples from the same seeds, by mean MSE and by mean
      cosine similarity, and the gain is specific to this clip (an unrelated clip does not gain).

Latent space: the pipeline's `output_type="latent"` returns denormalised [B, C, F, H, W] latents; they
are normalised with the VAE's latents_mean / latents_std / scaling_factor and packed to tokens, i.e.
brought into the space VideoEncoder produces and the trainer trains in.

Measured on the tiny presets (2 layers, inner dim 128, random weights): LTX-2.3 fixed-probe loss 1.37 -> 0.17;
sampled latents base MSE 1.32 / cosine 0.02, LoRA MSE 0.078 / cosine 0.49 (the unrelated clip stays
near 0). LTX-2.5: loss 1.48 -> 0.26; base MSE 1.46 / cosine 0.01, LoRA MSE 0.13 / cosine 0.45. The
thresholds below leave wide margins around those figures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from train_svc.export.lora_file import LoraMetadata, write_lora
from train_svc.models.device import choose_placement
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, VideoEncoder
from train_svc.training.trainer import LoraTrainer, TrainingSample

HEIGHT = WIDTH = 96
FRAMES = 17
FPS = 24.0
CAPTION = "zqx magenta neon stripes drifting right"
CONFIG = TrainConfig(rank=16, alpha=32, learning_rate=1e-2, steps=500, feed_forward=True, seed=1)
FIXED_SIGMAS = (0.2, 0.5, 0.8)
NOISES_PER_SIGMA = 3
SAMPLE_SEEDS = range(8)
INFERENCE_STEPS = 12


def _fixed_loss(trainer: LoraTrainer, sample: TrainingSample) -> float:
    generator = torch.Generator().manual_seed(1234)
    probes = [
        (torch.tensor([sigma]), torch.randn(sample.latents.tokens.shape, generator=generator))
        for sigma in FIXED_SIGMAS
        for _ in range(NOISES_PER_SIGMA)
    ]
    trainer.transformer.eval()
    with torch.no_grad():
        return float(np.mean([trainer.loss(sample, sigma, noise).item() for sigma, noise in probes]))


def _sample_tokens(pipe, seed: int, max_sequence_length: int) -> torch.Tensor:
    """Pipeline latents for the training caption, normalised and packed like VideoEncoder's output."""
    from diffusers import LTX2Pipeline

    out = pipe(
        prompt=CAPTION,
        height=HEIGHT,
        width=WIDTH,
        num_frames=FRAMES,
        frame_rate=FPS,
        num_inference_steps=INFERENCE_STEPS,
        guidance_scale=1.0,
        stg_scale=0.0,
        modality_scale=1.0,
        audio_guidance_scale=1.0,
        audio_stg_scale=0.0,
        audio_modality_scale=1.0,
        generator=torch.Generator().manual_seed(seed),
        output_type="latent",
        max_sequence_length=max_sequence_length,  # the length the CaptionEncoder used in training
    )
    vae = pipe.vae
    latents = LTX2Pipeline._normalize_latents(
        out.frames.float(), vae.latents_mean, vae.latents_std, vae.config.scaling_factor
    )
    return LTX2Pipeline._pack_latents(latents)


def _closeness(pipe, target: torch.Tensor, other: torch.Tensor, max_sequence_length: int) -> dict[str, float]:
    mse, cos, cos_other = [], [], []
    for seed in SAMPLE_SEEDS:
        tokens = _sample_tokens(pipe, seed, max_sequence_length)
        assert tokens.shape == target.shape
        mse.append(F.mse_loss(tokens, target).item())
        cos.append(F.cosine_similarity(tokens.flatten(), target.flatten(), dim=0).item())
        cos_other.append(F.cosine_similarity(tokens.flatten(), other.flatten(), dim=0).item())
    return {"mse": float(np.mean(mse)), "cos": float(np.mean(cos)), "cos_other": float(np.mean(cos_other))}


@pytest.fixture(scope="module")
def encoders_25(tiny_model_25, placement):
    video, caption = VideoEncoder(tiny_model_25.path, placement), CaptionEncoder(tiny_model_25.path, placement)
    yield video, caption
    video.close()
    caption.close()


@pytest.mark.integration  # 500 steps and 16 sampled generations: ~25 s each
@pytest.mark.parametrize(("version", "base_weights"), [("2.3", "fp32"), ("2.3", "int8"), ("2.5", "fp32")])
def test_training_lowers_loss_and_pulls_generations_towards_the_clip(
    tmp_path, request, version, base_weights, make_clip
):
    """On LTX-2.3 and on LTX-2.5 (its Gemma 4 text path, bias-free feed-forward and fixed prompt modulation);
    also on an int8 base: its LoRA, loaded into the full-precision base, pulls samples the same way."""
    from diffusers import LTX2Pipeline

    if version == "2.3":
        tiny_model = request.getfixturevalue("tiny_model")
        video_encoder, caption_encoder = (
            request.getfixturevalue("video_encoder"),
            request.getfixturevalue("caption_encoder"),
        )
    else:
        tiny_model = request.getfixturevalue("tiny_model_25")
        video_encoder, caption_encoder = request.getfixturevalue("encoders_25")
    assert tiny_model.version == version

    clip = make_clip(FRAMES, HEIGHT, WIDTH, base=(1.0, 0.0, 0.85), accent=(0.0, 0.35, 0.0), direction=1)
    unrelated = make_clip(FRAMES, HEIGHT, WIDTH, base=(0.1, 0.9, 0.2), accent=(0.6, 0.0, 0.6), direction=-1)
    sample = TrainingSample("magenta", video_encoder.encode(clip, FPS), caption_encoder.encode(CAPTION))
    target = sample.latents.tokens
    other = video_encoder.encode(unrelated, FPS).tokens
    max_len = caption_encoder.max_sequence_length

    # (a) loss at fixed noise levels and noises, before and after
    trainer = LoraTrainer(tiny_model.path, choose_placement("cpu", "fp32", base_weights), CONFIG)
    loss_before = _fixed_loss(trainer, sample)
    losses: list[float] = []
    assert trainer.train([sample], on_step=lambda report: losses.append(report.loss)) == CONFIG.steps
    loss_after = _fixed_loss(trainer, sample)
    print(
        f"\nLTX-{version}, {base_weights} base: fixed-probe loss: before {loss_before:.4f} after {loss_after:.4f} "
        f"(training loss first 50 steps {np.mean(losses[:50]):.4f}, last 50 {np.mean(losses[-50:]):.4f})"
    )
    assert loss_after < 0.7 * loss_before, f"loss did not fall clearly: {loss_before:.4f} -> {loss_after:.4f}"

    # (b) generations from the shipped file, against the base model from the same seeds
    path = write_lora(
        tmp_path / "lora.safetensors",
        trainer.lora_state_dict(),
        LoraMetadata("zqx", CONFIG.rank, CONFIG.lora_alpha, tiny_model.name, CONFIG.steps, "t2v", False, version),
    )
    del trainer
    base_pipe = LTX2Pipeline.from_pretrained(tiny_model.path, local_files_only=True)
    lora_pipe = LTX2Pipeline.from_pretrained(tiny_model.path, local_files_only=True)
    lora_pipe.load_lora_weights(str(path))
    for pipe in (base_pipe, lora_pipe):
        pipe.set_progress_bar_config(disable=True)

    base = _closeness(base_pipe, target, other, max_len)
    lora = _closeness(lora_pipe, target, other, max_len)
    figures = (
        f"base: mse {base['mse']:.4f} cos {base['cos']:.4f} (unrelated clip {base['cos_other']:.4f}) | "
        f"lora: mse {lora['mse']:.4f} cos {lora['cos']:.4f} (unrelated clip {lora['cos_other']:.4f})"
    )
    print(f"sampled latents vs training latents, mean over {len(SAMPLE_SEEDS)} seeds: {figures}")

    assert lora["mse"] < 0.3 * base["mse"], f"LoRA samples are not clearly closer by MSE: {figures}"
    assert lora["cos"] > base["cos"] + 0.25, f"LoRA samples are not clearly closer by cosine: {figures}"
    # The gain is specific to the trained clip, not a generic drift of the samples.
    base_specificity = base["cos"] - base["cos_other"]
    lora_specificity = lora["cos"] - lora["cos_other"]
    assert lora_specificity > base_specificity + 0.02, f"the gain is not specific to the trained clip: {figures}"
