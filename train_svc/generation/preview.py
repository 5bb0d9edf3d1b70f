"""Frames as small JPEGs a client shows at once: a generated video's middle frame, a preview's thumbnails."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

MAX_SIDE = 512
JPEG_QUALITY = 85


def frame_jpeg(frame: np.ndarray, max_side: int = MAX_SIDE) -> bytes:
    """One uint8 frame [H, W, 3] -> JPEG bytes, at most `max_side` pixels on the long side."""
    image = Image.fromarray(frame)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def middle_frame_jpeg(frames: np.ndarray, max_side: int = MAX_SIDE) -> bytes:
    """uint8 frames [F, H, W, 3] -> JPEG bytes of frame F // 2, at most `max_side` pixels on the long side."""
    return frame_jpeg(frames[frames.shape[0] // 2], max_side)
