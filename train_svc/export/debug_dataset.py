"""debug_dataset.zip: the training samples exactly as trained, as files a person can open.

Per sample, in the order given: `<name>.mp4` (H.264, yuv420p, at the bundle's fps) for a clip or
`<name>.png` for a single frame, made from the bucket-size frames in the bundle, plus `<name>.txt`
holding the final caption (trigger phrase included). `manifest.json` lists every sample with its
id, files, caption, size, fps and the preprocessor's source facts. Names are `<index>_<sample id
made file-safe>`, so ids such as `a/clip.mp4` and `b/clip.mp4` stay distinct.
One sample is in memory at a time; the archive is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ffmpeg

from shared.bundle import SampleBundle, read_bundle
from shared.ffmpeg import FfmpegError, ffmpeg_exe

MANIFEST_FILE = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM_CHARS = 80
_STDERR_TAIL_CHARS = 2000
_ENCODE_TIMEOUT_SECONDS = 600.0


def safe_stem(index: int, sample_id: str) -> str:
    """A file name stem for the sample at `index`: unique by its index, readable by its id."""
    slug = _UNSAFE.sub("_", sample_id).strip("._")[:_MAX_STEM_CHARS] or "sample"
    return f"{index:04d}_{slug}"


def encode_argv(sample: SampleBundle, out: Path) -> list[str]:
    """The ffmpeg command line that reads the sample's rgb24 frames from stdin and writes out:
    H.264 (crf 18, yuv420p) for a clip, png for a single frame."""
    codec = {"c:v": "png"} if sample.num_frames == 1 else {"c:v": "libx264", "crf": 18, "pix_fmt": "yuv420p"}
    frames = ffmpeg.input(
        "-", format="rawvideo", pix_fmt="rgb24", s=f"{sample.width}x{sample.height}", r=repr(float(sample.fps))
    )
    return (
        frames.output(str(out), **{"frames:v": sample.num_frames}, **codec)
        .global_args("-hide_banner", "-loglevel", "error")
        .overwrite_output()
        .compile(cmd=ffmpeg_exe())
    )


def _encode(sample: SampleBundle, out: Path) -> None:
    """Pipe the sample's rgb24 frames into ffmpeg: an mp4 for a clip, a png for a single frame."""
    argv = encode_argv(sample, out)
    try:
        proc = subprocess.run(argv, input=sample.frames.tobytes(), capture_output=True, timeout=_ENCODE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise FfmpegError(
            f"ffmpeg timed out after {_ENCODE_TIMEOUT_SECONDS:g} s encoding sample {sample.sample_id}", timed_out=True
        ) from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", errors="replace")[-_STDERR_TAIL_CHARS:]
        raise FfmpegError(
            f"ffmpeg exited with status {proc.returncode} encoding sample {sample.sample_id}", stderr_tail=tail
        )


def _manifest_entry(sample: SampleBundle, media: str, caption_file: str) -> dict[str, Any]:
    return {
        "sample_id": sample.sample_id,
        "file": media,
        "caption_file": caption_file,
        "caption": sample.caption,
        "frames": sample.num_frames,
        "width": sample.width,
        "height": sample.height,
        "fps": sample.fps,
        "source_path": sample.source_path,
        "source": dict(sample.source),
    }


def write_debug_dataset(path: Path, bundles: Sequence[Path | SampleBundle]) -> Path:
    """Write the archive of `bundles` (bundle files or loaded bundles) to `path`; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    manifest: list[dict[str, Any]] = []
    try:
        with zipfile.ZipFile(tmp, "w") as archive, tempfile.TemporaryDirectory(prefix="debug-dataset-") as work:
            for index, item in enumerate(bundles):
                sample = read_bundle(item) if isinstance(item, Path) else item
                stem = safe_stem(index, sample.sample_id)
                media = f"{stem}.png" if sample.num_frames == 1 else f"{stem}.mp4"
                encoded = Path(work) / media
                _encode(sample, encoded)
                archive.write(encoded, media, compress_type=zipfile.ZIP_STORED)
                encoded.unlink()
                archive.writestr(f"{stem}.txt", sample.caption + "\n", compress_type=zipfile.ZIP_DEFLATED)
                manifest.append(_manifest_entry(sample, media, f"{stem}.txt"))
            document = json.dumps({"samples": manifest}, indent=2, ensure_ascii=False) + "\n"
            archive.writestr(MANIFEST_FILE, document, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
