"""Noise-level sampling of the official LTX-2 recipe: a stretched, shifted logit-normal.

The shift mu grows linearly with the token count (0.95 at 1024 tokens, 2.05 at 4096, not clamped),
so longer / larger samples train at higher noise. A logit-normal draw sigmoid(N(mu, 1)) is stretched
so that its 0.5th..99.9th percentiles cover [0, 1], reflected away from 0 below eps, and one draw in
ten is replaced by Uniform(eps, 1) so no noise level is starved.
"""

from __future__ import annotations

import math

import torch

BASE_TOKENS, MAX_TOKENS = 1024, 4096
BASE_SHIFT, MAX_SHIFT = 0.95, 2.05
LOW_PERCENTILE_Z = -2.5758  # 0.5th percentile of N(0, 1)
HIGH_PERCENTILE_Z = 3.0902  # 99.9th percentile of N(0, 1)
UNIFORM_PROBABILITY = 0.1
EPS = 1e-3
# Past this shift the stretched distribution no longer changes, and float32 sigmoids saturate (draws
# collapse, then turn NaN beyond ~110k tokens). The API's largest sample (14,400 tokens) has mu ~ 5.7.
MAX_EFFECTIVE_SHIFT = 13.0


def shift_for_tokens(num_tokens: int) -> float:
    slope = (MAX_SHIFT - BASE_SHIFT) / (MAX_TOKENS - BASE_TOKENS)
    return BASE_SHIFT + slope * (num_tokens - BASE_TOKENS)


def sample_sigmas(batch: int, num_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """Return `batch` sigmas in [EPS, 1] for samples of `num_tokens` tokens."""
    mu = min(shift_for_tokens(num_tokens), MAX_EFFECTIVE_SHIFT)
    normal = torch.randn(batch, generator=generator).double() + mu
    logit_normal = torch.sigmoid(normal)
    low = 1.0 / (1.0 + math.exp(-(mu + LOW_PERCENTILE_Z)))
    high = 1.0 / (1.0 + math.exp(-(mu + HIGH_PERCENTILE_Z)))
    stretched = (logit_normal - low) / (high - low)
    stretched = torch.where(stretched >= EPS, stretched, 2 * EPS - stretched).clamp(0.0, 1.0).float()
    uniform = EPS + (1 - EPS) * torch.rand(batch, generator=generator)
    use_uniform = torch.rand(batch, generator=generator) < UNIFORM_PROBABILITY
    return torch.where(use_uniform, uniform, stretched)
