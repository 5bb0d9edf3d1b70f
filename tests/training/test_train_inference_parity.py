"""What the trainer feeds the transformer is what inference feeds it.

A LoRA learns the function the trainer evaluates; it only helps generation if that function is the one
LTX2Pipeline evaluates. These tests compare the trainer's encoders and forward pass against the
pipeline's own code path on the tiny preset (a forward hook records the pipeline's transformer calls).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train_svc.training.encoding import VideoLatents
from train_svc.training.trainer import transformer_velocity

PROMPT = "zqx a teal cube spinning"


@pytest.fixture(scope="module")
def pipe(tiny_model):
    from diffusers import LTX2Pipeline

    pipeline = LTX2Pipeline.from_pretrained(tiny_model.path, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _transformer_calls(pipe, caption_encoder, *, height, width, num_frames, fps, steps, modality_scale, seed):
    """Run the pipeline to latents (CFG and STG off) and return each transformer call it made:
    (its keyword arguments, its video output, its audio output)."""
    calls = []

    def record(module, args, kwargs, output):
        calls.append((dict(kwargs), output[0].detach().clone(), output[1].detach().clone()))

    handle = pipe.transformer.register_forward_hook(record, with_kwargs=True)
    try:
        with torch.no_grad():
            pipe(
                prompt=PROMPT,
                height=height,
                width=width,
                num_frames=num_frames,
                frame_rate=fps,
                num_inference_steps=steps,
                guidance_scale=1.0,
                stg_scale=0.0,
                modality_scale=modality_scale,
                audio_guidance_scale=1.0,
                audio_stg_scale=0.0,
                audio_modality_scale=modality_scale,
                generator=torch.Generator().manual_seed(seed),
                output_type="latent",
                max_sequence_length=caption_encoder.max_sequence_length,
            )
    finally:
        handle.remove()
    return calls


def test_video_encoder_tokens_match_the_pipelines_latent_preparation(pipe, video_encoder, make_clip):
    frames = make_clip(17, 64, 96, base=(0.0, 0.6, 0.6), accent=(0.8, 0.2, 0.0), direction=-1)
    encoded = video_encoder.encode(frames, fps=30.0)

    assert (encoded.frames, encoded.height, encoded.width) == (3, 2, 3)
    assert encoded.tokens.shape == (1, 3 * 2 * 3, pipe.transformer.config.in_channels)
    assert encoded.fps == 30.0

    pixels = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).float() / 127.5 - 1.0
    with torch.no_grad():
        raw = pipe.vae.encode(pixels).latent_dist.mode()
    # The pipeline's own path for user-supplied [B, C, F, H, W] latents: normalise, then pack.
    expected = pipe.prepare_latents(latents=raw, noise_scale=0.0, dtype=torch.float32, device=torch.device("cpu"))
    torch.testing.assert_close(encoded.tokens, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("frames", "height", "width"), [(16, 64, 64), (17, 64, 80), (17, 48, 64)])
def test_video_encoder_rejects_frames_off_the_vae_grid(video_encoder, frames, height, width):
    clip = np.zeros((frames, height, width, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="8k\\+1|multiples of 32"):
        video_encoder.encode(clip, fps=24.0)


def test_trainer_forward_matches_the_pipelines_isolated_transformer_pass(pipe, caption_encoder):
    """Same latents, noise level and prompt -> the trainer's velocity equals the pipeline's, exactly.

    The pipeline's modality-isolation pass (modality_scale > 1) is the transformer call with the same
    isolate_modalities=True setting the trainer uses for video-only training; its recorded inputs are
    replayed through `transformer_velocity` with the trainer's caption embedding and sample metadata.
    A non-default frame rate checks that positions are built from the sample's true fps.
    """
    height, width, num_frames, fps = 64, 96, 17, 25.0
    calls = _transformer_calls(
        pipe,
        caption_encoder,
        height=height,
        width=width,
        num_frames=num_frames,
        fps=fps,
        steps=3,
        modality_scale=2.0,
        seed=0,
    )

    isolated = [(kwargs, video) for kwargs, video, _ in calls if kwargs["isolate_modalities"]]
    assert len(isolated) == 3, "expected one modality-isolation pass per step"

    caption = caption_encoder.encode(PROMPT)
    meta = VideoLatents(tokens=torch.empty(0), frames=3, height=2, width=3, fps=fps)
    sigmas = []
    for kwargs, pipeline_velocity in isolated:
        sigma = kwargs["timestep"].float() / 1000.0
        sigmas.append(sigma.item())
        with torch.no_grad():
            trainer_velocity = transformer_velocity(pipe.transformer, kwargs["hidden_states"], sigma, meta, caption)
        torch.testing.assert_close(trainer_velocity, pipeline_velocity.float(), rtol=1e-5, atol=1e-5)
    assert sigmas[0] == pytest.approx(1.0) and sigmas[-1] < 0.5, sigmas


def test_audio_encoder_tokens_match_the_pipelines_audio_latent_preparation(pipe, tiny_model, placement):
    from train_svc.training.audio_encoding import AudioEncoder
    from train_svc.training.mel import LogMel

    seconds = 17 / 24
    t = np.arange(round(seconds * 16_000)) / 16_000
    waveform = np.stack([np.sin(2 * np.pi * 330 * t), 0.5 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    encoder = AudioEncoder(tiny_model.path, placement)
    try:
        encoded = encoder.encode(waveform, 16_000, seconds)
    finally:
        encoder.close()

    with torch.no_grad():
        raw = pipe.audio_vae.encode(LogMel()(torch.from_numpy(waveform)[None])).latent_dist.mode()
    # The pipeline's own path for user-supplied [B, C, L, M] audio latents: pack, then normalise.
    expected = pipe.prepare_audio_latents(latents=raw, noise_scale=0.0, dtype=torch.float32, device=torch.device("cpu"))
    assert encoded.tokens.shape == expected.shape == (1, round(seconds * 25), pipe.transformer.config.audio_in_channels)
    torch.testing.assert_close(encoded.tokens, expected, rtol=1e-5, atol=1e-5)


def test_joint_trainer_forward_matches_the_pipelines_audio_video_pass(pipe, caption_encoder):
    """With audio, the trainer's (video, audio) velocities equal the pipeline's joint transformer pass."""
    from train_svc.training.trainer import NoisyAudio, transformer_velocities

    height, width, num_frames, fps = 64, 64, 17, 24.0
    calls = _transformer_calls(
        pipe,
        caption_encoder,
        height=height,
        width=width,
        num_frames=num_frames,
        fps=fps,
        steps=2,
        modality_scale=1.0,
        seed=1,
    )

    joint = [call for call in calls if not call[0]["isolate_modalities"]]
    assert len(joint) == 2, "expected one joint pass per step"
    caption = caption_encoder.encode(PROMPT)
    meta = VideoLatents(tokens=torch.empty(0), frames=3, height=2, width=2, fps=fps)
    for kwargs, video_out, audio_out in joint:
        sigma = kwargs["timestep"].float() / 1000.0
        audio_timestep = kwargs.get("audio_timestep")
        audio_sigma = (audio_timestep if audio_timestep is not None else kwargs["timestep"]).float() / 1000.0
        audio = NoisyAudio(kwargs["audio_hidden_states"], audio_sigma)
        with torch.no_grad():
            video_v, audio_v = transformer_velocities(
                pipe.transformer, kwargs["hidden_states"], sigma, meta, caption, audio
            )
        torch.testing.assert_close(video_v, video_out.float(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(audio_v, audio_out.float(), rtol=1e-5, atol=1e-5)
