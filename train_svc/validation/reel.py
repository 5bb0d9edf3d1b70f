"""preview.mp4: every validation preview of a job, one after the other, each labelled with its step and prompt.

Previews are joined in order of step, then prompt, decoded one at a time from their own mp4s and written
frame by frame (a reel of many 89-frame 960x960 previews is never held whole). The label is drawn with
Pillow, since the bundled ffmpeg may lack drawtext. With `with_audio` every preview has a sound track and
the reel's is theirs, each fitted to its preview's duration, so picture and sound stay in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shared.bundle import path_from_uri
from train_svc.generation.mp4 import Mp4Writer, fit_audio
from train_svc.jobs.events import ValidationPreview

MARGIN = 4


def label_text(preview: ValidationPreview, total_steps: int) -> str:
    return f"step {preview.step}/{total_steps} - prompt {preview.prompt_index + 1}: {preview.prompt}"


class _Label:
    """A text band drawn over the top of every frame of one preview."""

    def __init__(self, text: str, width: int, height: int):
        self.font = ImageFont.load_default(size=max(10, height // 24))
        room = width - 2 * MARGIN
        if self.font.getlength(text) > room:
            while text and self.font.getlength(text + "...") > room:
                text = text[:-1]
            text += "..."
        self.text = text
        self.band = (0, 0, width, self.font.getbbox(text)[3] + 2 * MARGIN)

    def draw(self, image: np.ndarray) -> np.ndarray:
        picture = Image.fromarray(image)
        pen = ImageDraw.Draw(picture)
        pen.rectangle(self.band, fill=(0, 0, 0))
        pen.text((MARGIN, MARGIN), self.text, font=self.font, fill=(255, 255, 255))
        return np.asarray(picture)


def _audio(path: Path, sample_rate: int, channels: int) -> np.ndarray:
    """The file's first audio stream as float32 [channels, samples] at `sample_rate`."""
    layout = "stereo" if channels == 2 else "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(part.to_ndarray() for part in resampler.resample(frame))
    chunks.extend(part.to_ndarray() for part in resampler.resample(None))
    return np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)


def write_reel(path: Path, previews: Sequence[ValidationPreview], total_steps: int, *, with_audio: bool) -> Path:
    """Join `previews` into one labelled mp4 at `path` (the previews' size and frame rate)."""
    if not previews:
        raise ValueError("no previews to join")
    ordered = sorted(previews, key=lambda p: (p.step, p.prompt_index))
    files = [path_from_uri(p.video.uri) for p in ordered]
    with av.open(str(files[0])) as first:
        video = first.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        if video.average_rate is None:
            raise ValueError(f"preview {files[0]} has no frame rate")
        frame_rate = Fraction(video.average_rate)
        sound = first.streams.audio[0] if with_audio else None
        sample_rate = sound.codec_context.sample_rate if sound is not None else None
        channels = sound.codec_context.layout.nb_channels if sound is not None else 2
    if frame_rate.denominator != 1:
        raise ValueError(f"preview frame rate {frame_rate} is not a whole number")
    fps = int(frame_rate)
    sounds = []
    with Mp4Writer(path, width, height, fps, sample_rate, channels) as out:
        for preview, file in zip(ordered, files, strict=True):
            label = _Label(label_text(preview, total_steps), width, height)
            before = out.frames_written
            with av.open(str(file)) as container:
                for frame in container.decode(video=0):
                    out.add(label.draw(frame.to_ndarray(format="rgb24")))
            if sample_rate is not None:
                sounds.append(
                    fit_audio(_audio(file, sample_rate, channels), out.frames_written - before, fps, sample_rate)
                )
        if sounds:
            out.set_audio(np.concatenate(sounds, axis=1))
    return path
