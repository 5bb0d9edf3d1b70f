"""A few frames of a preview as small JPEGs, so any client can show it at once."""

from __future__ import annotations

import numpy as np

from train_svc.generation.preview import MAX_SIDE, frame_jpeg

FRAMES = 4


def spread(count: int, total: int) -> list[int]:
    """`count` frame indices evenly spread over `total` frames, first and last included, without repeats."""
    if total < 1:
        raise ValueError("no frames")
    return sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(count)})


def jpeg_frames(frames: np.ndarray, count: int = FRAMES, max_side: int = MAX_SIDE) -> tuple[bytes, ...]:
    """uint8 [F, H, W, 3] -> JPEGs of `count` evenly spread frames, at most `max_side` px on the long side."""
    return tuple(frame_jpeg(frames[index], max_side) for index in spread(count, frames.shape[0]))
