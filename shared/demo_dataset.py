"""Small synthetic datasets made with the ffmpeg binary, for `ltx-trainer demo` and the tests.

make_demo_dataset builds a zip of short H.264 clips with real motion (lavfi test sources), all with
the same distinctive look (sepia tint and vignette, the "style" a LoRA can learn), a sine-tone audio
track, captions for all clips but one, and two clips named clip.mp4 in different folders.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from shared.ffmpeg import ffmpeg_exe, run_ffmpeg

# The shared look: a strong sepia tint with darkened corners.
DEMO_LOOK = "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131,vignette=PI/4"
_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class _DemoClip:
    path: str  # inside the zip
    source: str  # lavfi graph; {w}, {h}, {fps} and a fifth of the size {bw}, {bh} are filled in
    caption: str | None  # None: no .txt for this clip
    tone_hz: int


_DEMO_CLIPS = (
    _DemoClip(
        "set_a/clip.mp4", "testsrc2=s={w}x{h}:r={fps}", "a test card with a running counter and moving shapes", 440
    ),
    _DemoClip("set_b/clip.mp4", "mandelbrot=s={w}x{h}:r={fps}", "a slow zoom into a glowing fractal", 523),
    _DemoClip(
        "set_a/bouncing_box.mp4",
        "color=c=navy:s={w}x{h}:r={fps}[bg];color=c=orange:s={bw}x{bh}:r={fps}[box];"
        "[bg][box]overlay=x='(W-w)*abs(sin(t*1.5))':y='(H-h)*abs(sin(t*2.1))':shortest=1",
        "an orange square bouncing around a dark room",
        330,
    ),
    _DemoClip("set_b/drifting_light.mp4", "gradients=s={w}x{h}:r={fps}:speed=0.05:n=4", None, 660),
    _DemoClip(
        "life.mp4",
        "life=s={w}x{h}:r={fps}:mold=10:life_color=#00ff00:death_color=#aa0000:mold_color=#222200",
        "cells of a colony growing and dying on a dark field",
        220,
    ),
)
MAX_DEMO_CLIPS = len(_DEMO_CLIPS)


def _compile(output: ffmpeg.nodes.OutputStream) -> list[str]:
    """The command line of an output that overwrites its file and reports errors only."""
    return output.global_args("-hide_banner", "-loglevel", "error").overwrite_output().compile(cmd=ffmpeg_exe())


def render_clip_argv(
    out: Path, source: str, *, frames: int, fps: int, tone_hz: int | None = None, video_codec: str = "libx264"
) -> list[str]:
    """The ffmpeg command line render_clip runs."""
    streams = [ffmpeg.input(source, format="lavfi")]
    options: dict[str, str | int] = {"frames:v": frames, "c:v": video_codec}
    if tone_hz is not None:
        tone = f"sine=frequency={tone_hz}:sample_rate=48000:duration={frames / fps + 1}"
        streams = [streams[0]["v"], ffmpeg.input(tone, format="lavfi")["a"]]
        options |= {"c:a": "aac", "b:a": "64k", "t": f"{frames / fps}"}
    if video_codec == "libx264":
        options |= {"preset": "veryfast", "pix_fmt": "yuv420p"}
    return _compile(ffmpeg.output(*streams, str(out), **options))


def render_clip(
    out: Path, source: str, *, frames: int, fps: int, tone_hz: int | None = None, video_codec: str = "libx264"
) -> Path:
    """Encode `frames` frames of a lavfi source graph to out, with a sine tone as audio if tone_hz is set."""
    argv = render_clip_argv(out, source, frames=frames, fps=fps, tone_hz=tone_hz, video_codec=video_codec)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(argv, timeout=_TIMEOUT_S)
    return out


def render_image_argv(out: Path, source: str) -> list[str]:
    """The ffmpeg command line render_image runs."""
    return _compile(ffmpeg.input(source, format="lavfi").output(str(out), **{"frames:v": 1, "update": 1}))


def render_image(out: Path, source: str) -> Path:
    """Write the first frame of a lavfi source graph as an image (format from out's suffix)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(render_image_argv(out, source), timeout=_TIMEOUT_S)
    return out


def write_zip(out_zip: Path, entries: Mapping[str, Path | str]) -> Path:
    """Zip entries: archive name -> file to store, or text (str) to store as that file's content."""
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w") as zf:
        for name, content in entries.items():
            if isinstance(content, Path):
                zf.write(content, name, compress_type=zipfile.ZIP_STORED)
            else:
                zf.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    return out_zip


def make_demo_dataset(
    out_zip: Path, *, clips: int = MAX_DEMO_CLIPS, seconds: float = 3.0, size: tuple[int, int] = (192, 192)
) -> Path:
    """Build the demo zip with `clips` clips (2..MAX_DEMO_CLIPS) of `seconds` at 24 fps, size = (width, height)."""
    if not 2 <= clips <= MAX_DEMO_CLIPS:
        raise ValueError(f"clips must be between 2 and {MAX_DEMO_CLIPS}, got {clips}")
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"size must have even width and height for H.264, got {width}x{height}")
    fps = 24
    entries: dict[str, Path | str] = {}
    with tempfile.TemporaryDirectory(prefix="ltx-demo-") as tmp:
        for i, clip in enumerate(_DEMO_CLIPS[:clips]):
            graph = clip.source.format(w=width, h=height, fps=fps, bw=width // 5, bh=height // 5)
            source = f"{graph},{DEMO_LOOK}[out0]"
            entries[clip.path] = render_clip(
                Path(tmp) / f"{i}.mp4", source, frames=round(seconds * fps), fps=fps, tone_hz=clip.tone_hz
            )
            if clip.caption is not None:
                entries[str(Path(clip.path).with_suffix(".txt"))] = clip.caption
        return write_zip(out_zip, entries)


def make_short_clips_zip(
    out_zip: Path, frames: int, *, count: int = 2, fps: int = 24, size: tuple[int, int] = (64, 64)
) -> Path:
    """A zip of `count` captioned clips of exactly `frames` frames each, to test the too-short rules."""
    width, height = size
    entries: dict[str, Path | str] = {}
    with tempfile.TemporaryDirectory(prefix="ltx-short-") as tmp:
        for i in range(count):
            source = f"testsrc2=s={width}x{height}:r={fps}"
            entries[f"short_{i}.mp4"] = render_clip(Path(tmp) / f"{i}.mp4", source, frames=frames, fps=fps)
            entries[f"short_{i}.txt"] = f"short clip number {i}"
        return write_zip(out_zip, entries)


def make_mixed_zip(out_zip: Path) -> Path:
    """A zip holding one image and one video, which no dataset may mix."""
    with tempfile.TemporaryDirectory(prefix="ltx-mixed-") as tmp:
        image = render_image(Path(tmp) / "still.png", "testsrc2=s=64x64")
        video = render_clip(Path(tmp) / "moving.mp4", "testsrc2=s=64x64:r=24", frames=24, fps=24)
        return write_zip(out_zip, {"still.png": image, "moving.mp4": video})
