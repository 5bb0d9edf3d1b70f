"""The log-mel spectrogram against a reference written here in plain numpy, from the textbook definitions,
and its filterbank (transformers.audio_utils.mel_filter_bank) against the one we used to build by hand.

The numpy reference shares no code with train_svc.training.mel: framing by hand, numpy's rfft, the
Slaney mel scale and area normalisation written out from their definitions (as in Slaney's Auditory
Toolbox and librosa's documentation). `former_filterbank` is the torch construction mel.py had before
it took the bank from transformers, kept here to show the switch changed no value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from train_svc.training.mel import LogMel, MelConfig, mel_filterbank

SR, N_FFT, HOP, N_MELS, F_MAX = 16_000, 1024, 160, 64, 8_000.0


def slaney_hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    mel = 3.0 * f / 200.0
    above = f >= 1000.0
    mel[above] = 15.0 + 27.0 * np.log(f[above] / 1000.0) / np.log(6.4)
    return mel


def slaney_mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = 200.0 * m / 3.0
    above = m >= 15.0
    f[above] = 1000.0 * np.exp(np.log(6.4) * (m[above] - 15.0) / 27.0)
    return f


def reference_filterbank() -> np.ndarray:
    """[n_mels, n_freqs]: band k rises from edge k to k+1 and falls to k+2, area-normalised."""
    freqs = np.arange(N_FFT // 2 + 1) * (SR / N_FFT)
    edges = slaney_mel_to_hz(
        np.linspace(slaney_hz_to_mel(np.array([0.0]))[0], slaney_hz_to_mel(np.array([F_MAX]))[0], N_MELS + 2)
    )
    bank = np.zeros((N_MELS, freqs.size))
    for k in range(N_MELS):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        for j, f in enumerate(freqs):
            if lo <= f <= mid and mid > lo:
                bank[k, j] = (f - lo) / (mid - lo)
            elif mid < f <= hi:
                bank[k, j] = (hi - f) / (hi - mid)
        bank[k] *= 2.0 / (hi - lo)
    return bank


def reference_log_mel(signal: np.ndarray) -> np.ndarray:
    """One channel -> [frames, n_mels]."""
    padded = np.pad(signal.astype(np.float64), N_FFT // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    frames = 1 + (padded.size - N_FFT) // HOP
    spectra = np.stack([np.abs(np.fft.rfft(padded[t * HOP : t * HOP + N_FFT] * window)) for t in range(frames)])
    return np.log(np.maximum(spectra @ reference_filterbank().T, 1e-5))


def test_log_mel_matches_an_independent_numpy_reference_to_1e_4() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(SR * 1.3) / SR
    left = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 3000 * t * (1 + t)) + 0.02 * rng.standard_normal(t.size)  # a chirp
    waveform = torch.tensor(np.stack([left, right])[None], dtype=torch.float32)

    ours = LogMel()(waveform)[0].double().numpy()

    for channel, signal in enumerate((left, right)):
        expected = reference_log_mel(signal.astype(np.float32))
        assert ours[channel].shape == expected.shape == (1 + t.size // HOP, N_MELS)
        relative = np.abs(ours[channel] - expected) / np.maximum(np.abs(expected), 1.0)
        print(f"channel {channel}: max relative error {relative.max():.2e}")
        assert relative.max() < 1e-4


def test_a_pure_tone_lights_the_band_that_holds_its_frequency() -> None:
    t = torch.arange(SR) / SR
    tone = torch.sin(2 * torch.pi * 1000 * t).expand(1, 2, -1)
    mel = LogMel()(tone)
    band = int(mel[0, 0, 50].argmax())
    edges = slaney_mel_to_hz(np.linspace(0, slaney_hz_to_mel(np.array([F_MAX]))[0], N_MELS + 2))
    assert edges[band] < 1000 < edges[band + 2]
    assert torch.equal(mel[0, 0], mel[0, 1])


def test_one_hundred_frames_per_second() -> None:
    assert MelConfig().frames_per_second == 100
    assert LogMel()(torch.zeros(2, 2, 16_000)).shape == (2, 2, 101, 64)
    assert float(LogMel()(torch.zeros(1, 1, 1600)).max()) == pytest.approx(np.log(1e-5), rel=1e-6)


# The Slaney mel scale as the former mel.py wrote it: 3 mels per 200 Hz below 1 kHz, 27 mels per factor 6.4 above.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0


def _former_hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    linear = hz / _LINEAR_HZ_PER_MEL
    log = _BREAK_MEL + torch.log(torch.clamp(hz, min=_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return torch.where(hz >= _BREAK_HZ, log, linear)


def _former_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    linear = mel * _LINEAR_HZ_PER_MEL
    log = _BREAK_HZ * torch.exp(_LOG_STEP * (torch.clamp(mel, min=_BREAK_MEL) - _BREAK_MEL))
    return torch.where(mel >= _BREAK_MEL, log, linear)


def former_filterbank(config: MelConfig) -> torch.Tensor:
    """The hand-written bank mel.py used before: [n_fft // 2 + 1, n_mels], Slaney scale and area norm, float64."""
    bins = torch.linspace(0.0, config.sample_rate / 2, config.n_fft // 2 + 1, dtype=torch.float64)
    edges_mel = torch.linspace(
        float(_former_hz_to_mel(torch.tensor(config.f_min, dtype=torch.float64))),
        float(_former_hz_to_mel(torch.tensor(config.f_max, dtype=torch.float64))),
        config.n_mels + 2,
        dtype=torch.float64,
    )
    edges = _former_mel_to_hz(edges_mel)  # lower edge, centre, upper edge of band k: edges[k], edges[k+1], edges[k+2]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return triangles * (2.0 / (upper - lower))


CONFIGS = [
    MelConfig(),  # LTX-2.3's audio VAE (and the tiny preset's): 16 kHz, hop 160, 64 bands
    MelConfig(n_mels=128),
    MelConfig(sample_rate=24_000, hop_length=240, n_mels=80),
    MelConfig(sample_rate=22_050, n_fft=2048, f_min=20.0, f_max=7_600.0),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.sample_rate}Hz_nfft{c.n_fft}_{c.n_mels}mels")
def test_the_library_filterbank_equals_the_former_hand_written_one(config: MelConfig) -> None:
    ours, former = mel_filterbank(config), former_filterbank(config)

    assert ours.dtype == torch.float64 and ours.shape == former.shape == (config.n_fft // 2 + 1, config.n_mels)
    print(f"max difference {float((ours - former).abs().max()):.1e}")
    assert float((ours - former).abs().max()) < 1e-12
    assert torch.equal(ours.to(torch.float32), former.to(torch.float32))  # LogMel keeps the bank in float32


def test_the_log_mel_output_is_unchanged_by_the_library_filterbank() -> None:
    waveform = torch.randn(2, 2, 16_000 * 2, generator=torch.Generator().manual_seed(0))
    former = LogMel()
    former.filters = former_filterbank(former.config).to(torch.float32)

    assert torch.equal(LogMel()(waveform), former(waveform))
