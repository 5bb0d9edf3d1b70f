"""Latents to frames and sound, the way the base model's version decodes them.

LTX-2.3 decodes video with its convolutional VAE, inside LTX2Pipeline. LTX-2.5's native video decoder is
the diffusion decoder (`LTX2VideoDiffusionDecoderModel` in the folder `diffusion_decoder/`, which only
`modular_model_index.json` names, so LTX2Pipeline does not load it): the pipeline then stops at the
latents, and the decoder denoises the video from them with noise from the generation's own generator
(so a seed still gives one video), its neighbourhood attention computed by
train_svc.generation.neighborhood_attention; the sound goes through the audio VAE and vocoder as in LTX2Pipeline.
A 2.5 folder without that decoder decodes with its VAE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch

from train_svc.generation.neighborhood_attention import install
from train_svc.models.version_profiles import VersionProfile, profile_of
from train_svc.models.versions import model_version

log = structlog.get_logger(__name__)

DIFFUSION_DECODER_FOLDER = "diffusion_decoder"


def version_profile(model_path: Path) -> VersionProfile:
    """The profile of the version the model folder holds (read from its files)."""
    return profile_of(model_version(model_path))


def load_video_decoder(model_path: Path, profile: VersionProfile, dtype: torch.dtype) -> torch.nn.Module | None:
    """The diffusion decoder when the folder's version (`profile`) decodes with one and the folder has it,
    else None (the pipeline's VAE decodes)."""
    if profile.video_decoder != "diffusion_decoder":
        return None
    folder = model_path / DIFFUSION_DECODER_FOLDER
    if not folder.is_dir():
        log.info("no diffusion decoder in the base model: video decodes with the VAE", model=str(model_path))
        return None
    from diffusers import LTX2VideoDiffusionDecoderModel

    decoder = LTX2VideoDiffusionDecoderModel.from_pretrained(folder, dtype=dtype, local_files_only=True)
    install(decoder)  # its attention in bounded memory (see neighborhood_attention)
    return decoder.eval().requires_grad_(False)


@torch.no_grad()
def decode_latents(
    pipe: Any, decoder: Any, video: torch.Tensor, audio: torch.Tensor, generator: torch.Generator
) -> tuple[np.ndarray, torch.Tensor]:
    """Frames (float [F, H, W, 3] in 0..1) and waveform ([channels, samples]) of the first item of the
    latents LTX2Pipeline returns with output_type="latent" (video denormalised [B, C, F, H, W], audio
    unpacked for the audio VAE)."""
    decoded = decoder.decode(video.to(decoder.dtype), generator=generator, return_dict=False)[0]
    frames = pipe.video_processor.postprocess_video(decoded.float(), output_type="np")
    mel = pipe.audio_vae.decode(audio.to(pipe.audio_vae.dtype), return_dict=False)[0]
    waveform = pipe.vocoder(mel)
    return frames[0], waveform[0]
