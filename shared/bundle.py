"""The latent-ready bundle: one training sample as a safetensors file on shared storage.

Tensors:
  frames  uint8 [F, H, W, 3]  RGB pixels at the bucket size, F frames (F = 1 for an image)
Metadata (safetensors header, all strings):
  format_version, sample_id, caption, fps, source_path, and any source facts the preprocessor adds
  under "source.*" (codec, original size, original fps, ...).
The bundle is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

FORMAT_VERSION = "1"
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class SampleBundle:
    sample_id: str
    frames: np.ndarray  # uint8 [F, H, W, 3]
    fps: float
    caption: str
    source_path: str
    source: dict[str, str] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


@dataclass(frozen=True)
class WrittenBundle:
    path: Path
    sha256: str
    size_bytes: int

    @property
    def uri(self) -> str:
        return self.path.resolve().as_uri()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_bundle(path: Path, bundle: SampleBundle) -> WrittenBundle:
    frames = bundle.frames
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [F,H,W,3], got {frames.dtype} {frames.shape}")
    metadata = {
        "format_version": FORMAT_VERSION,
        "sample_id": bundle.sample_id,
        "caption": bundle.caption,
        "fps": repr(float(bundle.fps)),
        "source_path": bundle.source_path,
        **{f"source.{k}": str(v) for k, v in bundle.source.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file({"frames": np.ascontiguousarray(frames)}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # the training service may run as another user on the same shared storage
    os.replace(tmp, path)
    return WrittenBundle(path=path, sha256=sha256_file(path), size_bytes=path.stat().st_size)


def read_bundle(path: Path) -> SampleBundle:
    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata() or {}
        frames = fh.get_tensor("frames")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a bundle of format {FORMAT_VERSION} (got {meta.get('format_version')!r})")
    source = {k.removeprefix("source."): v for k, v in meta.items() if k.startswith("source.")}
    return SampleBundle(
        sample_id=meta["sample_id"],
        frames=frames,
        fps=float(meta["fps"]),
        caption=meta["caption"],
        source_path=meta["source_path"],
        source=source,
    )


def path_from_uri(uri: str) -> Path:
    """file:///abs/path -> Path; only local (shared-storage) URIs are accepted."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"bundle URI must be file://, got {uri!r}")
    return Path(unquote(parsed.path))
