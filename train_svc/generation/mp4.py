"""Muxing generated frames and audio into an mp4 with PyAV: H.264 (yuv420p) video and AAC audio.

The audio is trimmed or zero-padded to exactly the video's duration (frames / frame_rate) before
encoding: the vocoder's output length follows the audio latent grid (25 latents per second, rounded),
not the frame count, so the two streams would otherwise end apart. A video can also be written
without an audio stream, and frame by frame (Mp4Writer). The file appears atomically.

x264 runs one thread. Its automatic count follows the CPUs the process may use (its affinity), so a pinned
worker and an unpinned service, or two machines, would encode identical frames to different bytes and, after
decoding, to slightly different frames; and with several threads the same frames, encoded again in the same
process, now and then gave another file too (seen with 8 threads on 64x64 frames). One thread costs nothing
measurable here: 49 frames at 768x768 took 2.9-3.0 s with 1, 4, 8 or automatic threads on 2 cores; a
generation takes far longer.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
import numpy as np

VIDEO_CODEC: Final = "libx264"  # Final: the literal name gives PyAV's typed video / audio stream
AUDIO_CODEC: Final = "aac"
CRF = "18"  # visually lossless for generated content
X264_THREADS = "1"  # never "auto" nor several: see above
AUDIO_BIT_RATE = 192_000
_LAYOUTS = {1: "mono", 2: "stereo"}


def fit_audio(audio: np.ndarray, num_frames: int, frame_rate: int, sample_rate: int) -> np.ndarray:
    """[channels, samples] trimmed or zero-padded to round(num_frames / frame_rate * sample_rate) samples."""
    target = round(Fraction(num_frames, frame_rate) * sample_rate)
    audio = np.asarray(audio, dtype=np.float32)[:, :target]
    if audio.shape[1] < target:
        audio = np.pad(audio, ((0, 0), (0, target - audio.shape[1])))
    return np.ascontiguousarray(np.clip(audio, -1.0, 1.0))


class Mp4Writer:
    """An mp4 written frame by frame, so a long video is never held whole in memory.

    With `sample_rate` set the file gets an AAC track: call `set_audio` before the block ends; the audio
    is fitted to the frames written. Without it the file has no audio stream at all. Use it as a context
    manager: the file appears (atomically) only when the block ends without an error.
    """

    def __init__(
        self, path: Path, width: int, height: int, frame_rate: int, sample_rate: int | None = None, channels: int = 2
    ):
        if sample_rate is not None and channels not in _LAYOUTS:
            raise ValueError(f"audio must have 1 or 2 channels (got {channels})")
        self.path = path
        self.frame_rate = frame_rate
        self.frames_written = 0
        self._sample_rate, self._channels = sample_rate, channels
        self._audio: np.ndarray | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._video = self._container.add_stream(
            VIDEO_CODEC, rate=Fraction(frame_rate), options={"crf": CRF, "threads": X264_THREADS}
        )
        self._video.width, self._video.height = width + width % 2, height + height % 2  # yuv420p: even sides
        self._video.pix_fmt = "yuv420p"
        self._sound = None
        if sample_rate is not None:
            self._sound = self._container.add_stream(AUDIO_CODEC, rate=sample_rate, layout=_LAYOUTS[channels])
            self._sound.bit_rate = AUDIO_BIT_RATE

    def __enter__(self) -> Mp4Writer:
        return self

    def add(self, image: np.ndarray) -> None:
        """Append one uint8 [H, W, 3] frame (an odd side is padded by repeating its last row / column)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"a frame must be uint8 [H, W, 3] (got {image.dtype} {list(image.shape)})")
        pad_h, pad_w = self._video.height - image.shape[0], self._video.width - image.shape[1]
        if pad_h not in (0, 1) or pad_w not in (0, 1):
            raise ValueError(
                f"frame is {image.shape[1]}x{image.shape[0]}, the video {self._video.width}x{self._video.height}"
            )
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.frames_written
        self._container.mux(self._video.encode(frame))
        self.frames_written += 1

    def set_audio(self, audio: np.ndarray) -> None:
        """The whole sound track, float [channels, samples] at the writer's sample rate."""
        if self._sound is None:
            raise ValueError("this mp4 was opened without an audio track")
        if audio.ndim != 2 or audio.shape[0] != self._channels:
            raise ValueError(f"audio must be [{self._channels}, samples] (got {list(audio.shape)})")
        self._audio = audio

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
                self._container.close()
                self._tmp.replace(self.path)
            else:
                self._container.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def _finish(self) -> None:
        self._container.mux(self._video.encode())
        sample_rate = self._sample_rate  # set exactly when there is an audio track
        if self._sound is None or sample_rate is None:
            return
        if self._audio is None:
            raise ValueError("the mp4 has an audio track but no audio was given")
        audio = fit_audio(self._audio, self.frames_written, self.frame_rate, sample_rate)
        chunk = av.AudioFrame.from_ndarray(audio, format="fltp", layout=_LAYOUTS[self._channels])
        chunk.sample_rate = sample_rate
        chunk.pts = 0
        self._container.mux(self._sound.encode(chunk))
        self._container.mux(self._sound.encode())


def write_mp4(path: Path, frames: np.ndarray, frame_rate: int, audio: np.ndarray | None, sample_rate: int) -> Path:
    """Write uint8 frames [F, H, W, 3] and float audio [channels, samples] (None: no audio stream) to `path`."""
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [F, H, W, 3] (got {frames.dtype} {list(frames.shape)})")
    if audio is not None and (audio.ndim != 2 or audio.shape[0] not in _LAYOUTS):
        raise ValueError(f"audio must be [channels, samples] with 1 or 2 channels (got {list(audio.shape)})")
    height, width = frames.shape[1:3]
    track = (sample_rate, audio.shape[0]) if audio is not None else (None, 2)
    with Mp4Writer(path, width, height, frame_rate, *track) as out:
        for image in frames:
            out.add(image)
        if audio is not None:
            out.set_audio(audio)
    return path
