"""Shared fixtures for the training-core tests: one tiny LTX-2.3 preset per session (tests/conftest.py
points its cache at a fresh temp dir, so the real build -> save -> load path runs)."""

from __future__ import annotations

import numpy as np
import pytest

from train_svc.models.base_model import BaseModel, resolve_base_model
from train_svc.models.device import Placement, choose_placement
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.models.tiny_preset_25 import PRESET_NAME as PRESET_NAME_25
from train_svc.training.encoding import CaptionEncoder, VideoEncoder

FPS = 24.0


@pytest.fixture(scope="session")
def tiny_model(offline_model_cache) -> BaseModel:
    """The `ltx2.3-tiny` preset, built once per session into the private cache."""
    return resolve_base_model(PRESET_NAME)


@pytest.fixture(scope="session")
def tiny_model_25(offline_model_cache) -> BaseModel:
    """The `ltx2.5-tiny` preset, built once per session into the private cache."""
    return resolve_base_model(PRESET_NAME_25)


@pytest.fixture(scope="session")
def placement() -> Placement:
    """fp32 on the CPU everywhere, so reload comparisons can be exact."""
    return choose_placement("cpu", "fp32")


@pytest.fixture(scope="session")
def video_encoder(tiny_model, placement):
    encoder = VideoEncoder(tiny_model.path, placement)
    yield encoder
    encoder.close()


@pytest.fixture(scope="session")
def caption_encoder(tiny_model, placement):
    encoder = CaptionEncoder(tiny_model.path, placement)
    yield encoder
    encoder.close()


def striped_clip(
    frames: int,
    height: int,
    width: int,
    *,
    base: tuple[float, float, float],
    accent: tuple[float, float, float],
    direction: int,
    speed: float = 4.0,
) -> np.ndarray:
    """uint8 [F, H, W, 3]: a saturated base colour with diagonal accent stripes moving `speed` px/frame."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    stripe = 0.5 + 0.5 * np.sin(2 * np.pi * ((direction * x + speed * t) / 24.0 + y / 48.0))
    stripe = stripe[..., None]
    image = np.asarray(base) * (0.75 + 0.25 * stripe) + np.asarray(accent) * stripe
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def make_clip():
    """Factory for synthetic clips with a distinctive look (see `striped_clip`)."""
    return striped_clip
