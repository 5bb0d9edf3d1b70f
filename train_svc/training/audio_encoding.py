"""Turning a sample's soundtrack into what the transformer trains on: packed, normalised audio latents.

waveform (stereo, 16 kHz) -> log-mel [1, 2, T, 64] (training/mel.py) -> the audio VAE's encoder (its
distribution mode, as for video) -> [1, C, L, M'] -> packed to tokens [1, L, C*M'] -> normalised with
the VAE's per-feature mean and std, exactly as LTX2Pipeline packs and normalises audio latents. L is
cut to the pipeline's own count for the sample's duration (25 latents per second), so a LoRA trains
on as many audio tokens as inference will use for a video of that length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from train_svc.models.device import Placement, release
from train_svc.training.mel import LogMel, MelConfig


@dataclass(frozen=True)
class AudioLatents:
    tokens: torch.Tensor  # [1, L, C*M'] normalised and packed

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[1])


class AudioEncoder:
    """The audio VAE encoder with its mel front end, frozen."""

    def __init__(self, model_path: Path, placement: Placement):
        from diffusers import AutoencoderKLLTX2Audio

        self._placement = placement
        self._vae = AutoencoderKLLTX2Audio.from_pretrained(
            model_path, subfolder="audio_vae", dtype=placement.base_dtype, local_files_only=True
        )
        self._vae.to(placement.device).eval().requires_grad_(False)
        config = self._vae.config
        self.sample_rate = int(config.sample_rate)
        self._mel = LogMel(
            MelConfig(sample_rate=self.sample_rate, hop_length=int(config.mel_hop_length), n_mels=int(config.mel_bins))
        ).to(placement.device)
        self.latents_per_second = self.sample_rate / int(config.mel_hop_length) / self._vae.temporal_compression_ratio

    @torch.no_grad()
    def encode(self, waveform: np.ndarray, sample_rate: int, duration_s: float) -> AudioLatents:
        """waveform float32 [2, samples] at sample_rate, lasting duration_s (the sample's frames / fps)."""
        from diffusers import LTX2Pipeline

        if sample_rate != self.sample_rate:
            raise ValueError(f"audio must be at {self.sample_rate} Hz for this model's audio VAE, got {sample_rate} Hz")
        if waveform.ndim != 2 or waveform.shape[0] != 2:
            raise ValueError(f"audio must be stereo [2, samples], got shape {tuple(waveform.shape)}")
        mel = self._mel(
            torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))[None].to(self._placement.device)
        )
        latents = self._vae.encode(mel.to(self._placement.base_dtype)).latent_dist.mode()  # [1, C, L, M']
        length = min(int(latents.shape[2]), max(round(duration_s * self.latents_per_second), 1))
        tokens = LTX2Pipeline._pack_audio_latents(latents[:, :, :length].float())
        tokens = LTX2Pipeline._normalize_audio_latents(tokens, self._vae.latents_mean, self._vae.latents_std)
        return AudioLatents(tokens=tokens.cpu())

    def close(self) -> None:
        release(self._vae)
        self._vae = None
