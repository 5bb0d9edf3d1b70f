"""The benchmark's clips: a set of short H.264 clips with motion, and one long clip, rendered once and cached."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from shared.demo_dataset import render_clip, write_zip
from shared.ffmpeg import ffmpeg_exe

MOTION_SOURCES = (
    "testsrc2=s={w}x{h}:r={fps}",
    "mandelbrot=s={w}x{h}:r={fps}",
    "life=s={w}x{h}:r={fps}:mold=10:life_color=#00ff00:death_color=#aa0000:mold_color=#222200",
    "gradients=s={w}x{h}:r={fps}:speed=0.05:n=4",
    "color=c=navy:s={w}x{h}:r={fps}[bg];color=c=orange:s={bw}x{bh}:r={fps}[box];"
    "[bg][box]overlay=x='(W-w)*abs(sin(t*1.5))':y='(H-h)*abs(sin(t*2.1))':shortest=1",
    "cellauto=s={w}x{h}:r={fps}:rule=110:scroll=1",
    "rgbtestsrc=s={w}x{h}:r={fps},hue=H=t*40",
    "smptehdbars=s={w}x{h}:r={fps},rotate=a=t*0.3",
)
SOURCE_FPS = 30


def render_long_clip(out: Path, *, seconds: float, size: tuple[int, int], preset: str) -> Path:
    """A long H.264 clip with motion; render_clip's preset and 120 s timeout are too slow for 1080p x 2 min."""
    w, h = size
    frames = round(seconds * SOURCE_FPS)
    source = f"testsrc2=s={w}x{h}:r={SOURCE_FPS}"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    argv += ["-frames:v", str(frames), "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    argv[-1] = str(tmp)
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    tmp.rename(out)
    return out


def make_clip_set(cache: Path, *, clips: int, seconds: float, size: tuple[int, int]) -> tuple[Path, list[Path], float]:
    """(zip, clip files, seconds spent rendering now: 0 when cached)."""
    w, h = size
    folder = cache / f"set_{clips}x{seconds:g}s_{w}x{h}"
    archive = folder / "clips.zip"
    paths = [folder / f"clip_{i:02d}.mp4" for i in range(clips)]
    if archive.exists() and all(p.exists() for p in paths):
        return archive, paths, 0.0
    started = time.monotonic()
    entries: dict[str, Path | str] = {}
    for i, path in enumerate(paths):
        graph = MOTION_SOURCES[i % len(MOTION_SOURCES)].format(w=w, h=h, fps=SOURCE_FPS, bw=w // 5, bh=h // 5)
        if not path.exists():
            render_clip(
                path, f"{graph}[out0]" if "[bg]" in graph else graph, frames=round(seconds * SOURCE_FPS), fps=SOURCE_FPS
            )
        entries[f"clips/{path.name}"] = path
        entries[f"clips/{path.stem}.txt"] = f"benchmark clip {i}: {graph.split('=')[0]}"
    write_zip(archive, entries)
    return archive, paths, time.monotonic() - started


def make_long_clip(cache: Path, *, seconds: float, size: tuple[int, int], preset: str) -> tuple[Path, Path, float]:
    w, h = size
    folder = cache / f"long_{seconds:g}s_{w}x{h}_{preset}"
    clip, archive = folder / "long.mp4", folder / "long.zip"
    if clip.exists() and archive.exists():
        return archive, clip, 0.0
    started = time.monotonic()
    if not clip.exists():
        render_long_clip(clip, seconds=seconds, size=size, preset=preset)
    write_zip(archive, {"long.mp4": clip, "long.txt": f"a {seconds:g} s test card at {w}x{h}"})
    return archive, clip, time.monotonic() - started
