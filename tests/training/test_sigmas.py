"""Noise-level sampling against the official LTX-2 recipe (stretched, shifted logit-normal + 10% uniform).

The reference distribution below is derived from the recipe text (LTX2_FACTS.md), not from the code under
test: mu grows linearly from 0.95 at 1024 tokens to 2.05 at 4096; s = sigmoid(N(mu, 1)) is stretched so
the 0.5th..99.9th percentiles map onto [0, 1], values under eps are reflected to 2*eps - s, and one draw
in ten is Uniform(eps, 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from train_svc.training.sigmas import sample_sigmas, shift_for_tokens

EPS = 1e-3
UNIFORM_SHARE = 0.1
# Largest training size the hosted API accepts: 960x960 pixels, 121 frames -> 30 * 30 * 16 latent tokens.
LARGEST_SPEC_TOKENS = (960 // 32) * (960 // 32) * ((121 - 1) // 8 + 1)


def recipe_shift(tokens: int) -> float:
    return 0.95 + (2.05 - 0.95) * (tokens - 1024) / (4096 - 1024)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def recipe_logit_normal_cdf(x: np.ndarray, tokens: int) -> np.ndarray:
    """P(sigma <= x) for the non-uniform part of the recipe, for x in [eps, 1)."""
    mu = recipe_shift(tokens)
    low, high = _sigmoid(mu - 2.5758), _sigmoid(mu + 3.0902)

    def stretched_cdf(u: float) -> float:  # P(stretched value <= u), before reflection
        p = low + u * (high - low)
        if p <= 0.0:
            return 0.0
        if p >= 1.0:
            return 1.0
        return _normal_cdf(math.log(p / (1.0 - p)) - mu)

    # Reflection: the final value is <= x when the stretched value lies in [2 * eps - x, x].
    return np.array([stretched_cdf(v) - stretched_cdf(2 * EPS - v) for v in x])


def _draw(batch: int, tokens: int, seed: int = 0) -> torch.Tensor:
    return sample_sigmas(batch, tokens, torch.Generator().manual_seed(seed))


def test_shift_matches_the_recipe_anchor_points():
    assert shift_for_tokens(1024) == pytest.approx(0.95, abs=1e-9)
    assert shift_for_tokens(4096) == pytest.approx(2.05, abs=1e-9)


@pytest.mark.parametrize("tokens", [0, 27, 2560, 6912, 20_000, LARGEST_SPEC_TOKENS])
def test_shift_is_linear_in_tokens_and_not_clamped(tokens):
    assert shift_for_tokens(tokens) == pytest.approx(recipe_shift(tokens), rel=1e-9, abs=1e-9)


def test_shift_keeps_growing_beyond_4096_tokens_and_shrinking_below_1024():
    assert shift_for_tokens(6912) > 2.05
    assert shift_for_tokens(256) < 0.95


@pytest.mark.parametrize("tokens", [27, 1024, 4096, 6912, LARGEST_SPEC_TOKENS])
def test_sigmas_lie_between_eps_and_one(tokens):
    sigmas = _draw(200_000, tokens)
    assert sigmas.shape == (200_000,)
    assert torch.isfinite(sigmas).all()
    assert sigmas.min().item() >= EPS
    assert sigmas.max().item() <= 1.0
    # ...and the whole range is used: one draw in ten is uniform, so both ends are reached.
    assert sigmas.min().item() < 5 * EPS
    assert sigmas.max().item() > 0.99


def test_median_sigma_rises_with_token_count():
    token_counts = [27, 1024, 2048, 4096, 6912, LARGEST_SPEC_TOKENS]
    medians = [_draw(200_000, n).median().item() for n in token_counts]
    assert all(a < b for a, b in zip(medians, medians[1:], strict=False)), dict(zip(token_counts, medians, strict=True))


@pytest.mark.parametrize("tokens", [27, 1024, 6912, LARGEST_SPEC_TOKENS])
def test_draws_follow_the_stretched_logit_normal_with_one_in_ten_uniform(tokens):
    sigmas = np.sort(_draw(400_000, tokens, seed=tokens).numpy().astype(np.float64))
    grid = np.linspace(0.01, 0.99, 99)
    empirical = np.searchsorted(sigmas, grid, side="right") / sigmas.size
    logit_normal = recipe_logit_normal_cdf(grid, tokens)
    uniform = (grid - EPS) / (1.0 - EPS)

    # Least-squares estimate of the uniform share p in  F = (1 - p) * G + p * U.
    share = float(np.sum((empirical - logit_normal) * (uniform - logit_normal)) / np.sum((uniform - logit_normal) ** 2))
    assert share == pytest.approx(UNIFORM_SHARE, abs=0.015), f"uniform share {share:.4f} at {tokens} tokens"

    expected = (1 - UNIFORM_SHARE) * logit_normal + UNIFORM_SHARE * uniform
    worst = float(np.max(np.abs(empirical - expected)))
    assert worst < 0.006, f"empirical CDF is {worst:.4f} away from the recipe at {tokens} tokens"


def test_same_seed_gives_the_same_sigmas_and_another_seed_does_not():
    first = _draw(1000, 2048, seed=7)
    again = _draw(1000, 2048, seed=7)
    other = _draw(1000, 2048, seed=8)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_sampling_uses_only_the_given_generator():
    torch.manual_seed(0)
    first = _draw(100, 1024, seed=3)
    torch.manual_seed(12345)
    second = _draw(100, 1024, seed=3)
    assert torch.equal(first, second)


@pytest.mark.parametrize("tokens", [80_000, 200_000])
def test_sigmas_stay_spread_and_finite_for_very_long_sequences(tokens):
    sigmas = _draw(100_000, tokens)
    assert torch.isfinite(sigmas).all()
    # The uniform draws alone give ~10k distinct values; the logit-normal part must add its own spread.
    assert sigmas.unique().numel() > 3 * UNIFORM_SHARE * sigmas.numel()
    assert sigmas.median().item() > 0.5, "long sequences must train at high noise"
