"""The log-mel spectrogram LTX-2's audio VAE reads, computed with torch alone (no torchaudio).

The recipe of Lightricks' trainer: 16 kHz audio, STFT with n_fft 1024, a 1024-sample periodic Hann
window and hop 160 (100 frames per second), centred with reflect padding; magnitude (power 1);
a 64-band mel filterbank from 0 to 8 kHz on the Slaney mel scale with Slaney (area) normalisation;
then log(max(mel, 1e-5)). Output [batch, channels, time, n_mels], as the audio VAE expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above (27 mels per factor 6.4).
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8_000.0
    log_floor: float = 1e-5

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    linear = hz / _LINEAR_HZ_PER_MEL
    log = _BREAK_MEL + torch.log(torch.clamp(hz, min=_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return torch.where(hz >= _BREAK_HZ, log, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    linear = mel * _LINEAR_HZ_PER_MEL
    log = _BREAK_HZ * torch.exp(_LOG_STEP * (torch.clamp(mel, min=_BREAK_MEL) - _BREAK_MEL))
    return torch.where(mel >= _BREAK_MEL, log, linear)


def mel_filterbank(config: MelConfig) -> torch.Tensor:
    """[n_fft // 2 + 1, n_mels] triangular filters, each scaled to unit area (Slaney norm), float64."""
    bins = torch.linspace(0.0, config.sample_rate / 2, config.n_fft // 2 + 1, dtype=torch.float64)
    edges_mel = torch.linspace(
        float(hz_to_mel(torch.tensor(config.f_min, dtype=torch.float64))),
        float(hz_to_mel(torch.tensor(config.f_max, dtype=torch.float64))),
        config.n_mels + 2,
        dtype=torch.float64,
    )
    edges = mel_to_hz(edges_mel)  # lower edge, centre, upper edge of band k: edges[k], edges[k+1], edges[k+2]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return triangles * (2.0 / (upper - lower))


class LogMel(torch.nn.Module):
    """waveform [B, C, samples] at config.sample_rate -> log-mel [B, C, frames, n_mels]."""

    def __init__(self, config: MelConfig | None = None):
        super().__init__()
        self.config = config or MelConfig()
        self.register_buffer("window", torch.hann_window(self.config.n_fft, periodic=True), persistent=False)
        self.register_buffer("filters", mel_filterbank(self.config).to(torch.float32), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        batch, channels, samples = waveform.shape
        cfg = self.config
        spectrum = torch.stft(
            waveform.reshape(batch * channels, samples).to(self.window.dtype),
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.n_fft,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        ).abs()  # [B*C, freq, frames]
        mel = torch.matmul(spectrum.transpose(1, 2), self.filters)  # [B*C, frames, n_mels]
        return torch.log(torch.clamp(mel, min=cfg.log_floor)).reshape(batch, channels, -1, cfg.n_mels)
