"""The log-mel spectrogram LTX-2's audio VAE reads: torch.stft, then a mel filterbank from transformers.

The recipe of Lightricks' trainer: 16 kHz audio, STFT with n_fft 1024, a 1024-sample periodic Hann
window and hop 160 (100 frames per second), centred with reflect padding; magnitude (power 1);
a 64-band mel filterbank from 0 to 8 kHz on the Slaney mel scale with Slaney (area) normalisation
(transformers.audio_utils.mel_filter_bank, librosa's filters); then log(max(mel, 1e-5)).
Output [batch, channels, time, n_mels], as the audio VAE expects. No torchaudio.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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


def mel_filterbank(config: MelConfig) -> torch.Tensor:
    """[n_fft // 2 + 1, n_mels] triangular filters on the Slaney mel scale, each scaled to unit area, float64."""
    from transformers.audio_utils import mel_filter_bank  # imported here: transformers takes a second to load

    bank = mel_filter_bank(
        num_frequency_bins=config.n_fft // 2 + 1,
        num_mel_filters=config.n_mels,
        min_frequency=config.f_min,
        max_frequency=config.f_max,
        sampling_rate=config.sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(bank)


class LogMel(torch.nn.Module):
    """waveform [B, C, samples] at config.sample_rate -> log-mel [B, C, frames, n_mels]."""

    window: torch.Tensor  # buffers, registered in __init__
    filters: torch.Tensor

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
