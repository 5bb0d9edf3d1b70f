"""Muxing generated frames and audio into an mp4 with PyAV: H.264 (yuv420p) video and AAC audio.

The audio is trimmed or zero-padded to exactly the video's duration (frames / frame_rate) before
encoding: the vocoder's output length follows the audio latent grid (25 latents per second, rounded),
not the frame count, so the two streams would otherwise end apart. The file appears atomically.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

VIDEO_CODEC = "libx264"
AUDIO_CODEC = "aac"
CRF = "18"  # visually lossless for generated content
AUDIO_BIT_RATE = 192_000
_LAYOUTS = {1: "mono", 2: "stereo"}


def fit_audio(audio: np.ndarray, num_frames: int, frame_rate: int, sample_rate: int) -> np.ndarray:
    """[channels, samples] trimmed or zero-padded to round(num_frames / frame_rate * sample_rate) samples."""
    target = round(Fraction(num_frames, frame_rate) * sample_rate)
    audio = np.asarray(audio, dtype=np.float32)[:, :target]
    if audio.shape[1] < target:
        audio = np.pad(audio, ((0, 0), (0, target - audio.shape[1])))
    return np.ascontiguousarray(np.clip(audio, -1.0, 1.0))


def _even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: repeat the last row / column of an odd-sized video."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def write_mp4(path: Path, frames: np.ndarray, frame_rate: int, audio: np.ndarray, sample_rate: int) -> Path:
    """Write uint8 frames [F, H, W, 3] and float audio [channels, samples] to `path` (an .mp4)."""
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [F, H, W, 3] (got {frames.dtype} {list(frames.shape)})")
    if audio.ndim != 2 or audio.shape[0] not in _LAYOUTS:
        raise ValueError(f"audio must be [channels, samples] with 1 or 2 channels (got {list(audio.shape)})")
    frames = _even(frames)
    audio = fit_audio(audio, frames.shape[0], frame_rate, sample_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            video = container.add_stream(VIDEO_CODEC, rate=Fraction(frame_rate), options={"crf": CRF})
            video.width, video.height = frames.shape[2], frames.shape[1]
            video.pix_fmt = "yuv420p"
            sound = container.add_stream(AUDIO_CODEC, rate=sample_rate, layout=_LAYOUTS[audio.shape[0]])
            sound.bit_rate = AUDIO_BIT_RATE
            for index, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                container.mux(video.encode(frame))
            container.mux(video.encode())
            chunk = av.AudioFrame.from_ndarray(audio, format="fltp", layout=_LAYOUTS[audio.shape[0]])
            chunk.sample_rate = sample_rate
            chunk.pts = 0
            container.mux(sound.encode(chunk))
            container.mux(sound.encode())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
