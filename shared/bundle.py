"""The latent-ready bundle: one training sample as a safetensors file on shared storage.

Tensors, in this order in the data section (contiguous, no padding between them):
  frames  uint8 [F, H, W, 3]  RGB pixels at the bucket size, F frames (F = 1 for an image)
  audio   float32 [2, N]      only when the sample carries audio: stereo at audio_sample_rate, as long
                              as the frames (N = round(F / fps * rate))
Metadata (safetensors header, all strings):
  format_version, sample_id, caption, fps, source_path, audio_sample_rate (only with audio: "16000"),
  and any source facts the preprocessor adds under "source.*" (codec, original size, original fps, ...).
The bundle is written to a temporary name and renamed, so a reader never sees half a file.

BundleWriter lays the safetensors file out itself (8-byte little-endian header length, the JSON header
padded with spaces to a multiple of 8, then the raw pixels, then the audio) so that every byte is hashed as
it is written: the sha256 comes for free instead of from a second read of the file, and frames can be
written as the decoder delivers them, so a worker never holds a whole sample (write_bundle writes
one that is already in memory).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from safetensors import safe_open

FORMAT_VERSION = "1"
AUDIO_SAMPLE_RATE = 16000  # Hz, the only rate a bundle's audio comes at
_READ_CHUNK = 1 << 20
_WRITE_CHUNK = 8 << 20  # bytes hashed and written per step
_HEADER_ALIGN = 8


@dataclass(frozen=True)
class SampleBundle:
    sample_id: str
    frames: np.ndarray  # uint8 [F, H, W, 3]
    fps: float
    caption: str
    source_path: str
    source: dict[str, str] = field(default_factory=dict)
    audio: np.ndarray | None = None  # float32 [2, N]
    audio_sample_rate: int | None = None  # AUDIO_SAMPLE_RATE when audio is present

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


def _safetensors_header(shape: tuple[int, ...], audio_shape: tuple[int, ...] | None, metadata: dict[str, str]) -> bytes:
    """The length prefix and JSON header of a bundle: uint8 "frames" of `shape`, then float32 "audio" if any."""
    nbytes = int(np.prod(shape))
    header: dict[str, object] = {
        "__metadata__": metadata,
        "frames": {"dtype": "U8", "shape": list(shape), "data_offsets": [0, nbytes]},
    }
    if audio_shape is not None:
        end = nbytes + int(np.prod(audio_shape)) * 4
        header["audio"] = {"dtype": "F32", "shape": list(audio_shape), "data_offsets": [nbytes, end]}
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % _HEADER_ALIGN)
    return struct.pack("<Q", len(text)) + text


def _metadata(sample_id: str, caption: str, fps: float, source_path: str, source: dict[str, str]) -> dict[str, str]:
    return {
        "format_version": FORMAT_VERSION,
        "sample_id": sample_id,
        "caption": caption,
        "fps": repr(float(fps)),
        "source_path": source_path,
        **{f"source.{k}": str(v) for k, v in source.items()},
    }


class BundleWriter:
    """Writes a bundle whose frames arrive one at a time, hashing every byte as it goes.

    The shape is declared up front (the header comes first in the file), and so is the audio, if any
    (float32 [2, N] at AUDIO_SAMPLE_RATE, written after the last frame); finish() checks that exactly
    that many frames came, writes the audio and puts the file in place. Used as a context manager, a bundle that was not
    finished (an error while decoding, a clip found too short) leaves nothing behind.
    """

    def __init__(
        self,
        path: Path,
        *,
        sample_id: str,
        caption: str,
        fps: float,
        source_path: str,
        source: dict[str, str],
        frames: int,
        height: int,
        width: int,
        audio: np.ndarray | None = None,
    ):
        if audio is not None and (audio.dtype != np.float32 or audio.ndim != 2 or audio.shape[0] != 2):
            raise ValueError(f"audio must be float32 [2, N], got {audio.dtype} {audio.shape}")
        self.path = path
        self.shape = (frames, height, width, 3)
        self._audio = audio
        self._count = 0
        self._digest = hashlib.sha256()
        metadata = _metadata(sample_id, caption, fps, source_path, source)
        if audio is not None:
            metadata["audio_sample_rate"] = str(AUDIO_SAMPLE_RATE)
        header = _safetensors_header(self.shape, None if audio is None else audio.shape, metadata)
        self._size = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.fchmod(self._fd, 0o644)  # the training service may run as another user on the same shared storage
            self._write(memoryview(header))
        except BaseException:
            self.abort()
            raise

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"the bundle {self.path} is already finished or aborted")
        return self._fd

    def _write(self, data: memoryview) -> None:
        fd = self._open_fd()
        for start in range(0, len(data), _WRITE_CHUNK):
            chunk = data[start : start + _WRITE_CHUNK]
            self._digest.update(chunk)
            while chunk:
                chunk = chunk[os.write(fd, chunk) :]
        self._size += len(data)

    def add_frame(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.shape != self.shape[1:]:
            raise ValueError(f"a frame must be uint8 {self.shape[1:]}, got {frame.dtype} {frame.shape}")
        if self._count == self.shape[0]:
            raise ValueError(f"the bundle holds {self.shape[0]} frames; got one more")
        self._write(np.ascontiguousarray(frame).data.cast("B"))
        self._count += 1

    def finish(self) -> WrittenBundle:
        if self._count != self.shape[0]:
            raise ValueError(f"the bundle needs {self.shape[0]} frames, got {self._count}")
        if self._audio is not None:
            self._write(np.ascontiguousarray(self._audio, dtype="<f4").data.cast("B"))
        os.close(self._open_fd())
        self._fd = None
        os.replace(self._tmp, self.path)
        return WrittenBundle(path=self.path, sha256=self._digest.hexdigest(), size_bytes=self._size)

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()


def write_bundle(path: Path, bundle: SampleBundle) -> WrittenBundle:
    frames = bundle.frames
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [F,H,W,3], got {frames.dtype} {frames.shape}")
    count, height, width, _ = frames.shape
    if bundle.audio is not None and bundle.audio_sample_rate not in (None, AUDIO_SAMPLE_RATE):
        raise ValueError(f"a bundle's audio must be at {AUDIO_SAMPLE_RATE} Hz, got {bundle.audio_sample_rate}")
    with BundleWriter(
        path,
        sample_id=bundle.sample_id,
        caption=bundle.caption,
        fps=bundle.fps,
        source_path=bundle.source_path,
        source=bundle.source,
        frames=count,
        height=height,
        width=width,
        audio=bundle.audio,
    ) as writer:
        for frame in frames:
            writer.add_frame(frame)
        return writer.finish()


def read_bundle(path: Path) -> SampleBundle:
    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata() or {}
        frames = fh.get_tensor("frames")
        names = fh.keys()
        audio = fh.get_tensor("audio") if "audio" in names else None
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
        audio=audio,
        audio_sample_rate=int(meta["audio_sample_rate"]) if audio is not None else None,
    )


def path_from_uri(uri: str) -> Path:
    """file:///abs/path -> Path; only local (shared-storage) URIs are accepted."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"bundle URI must be file://, got {uri!r}")
    return Path(unquote(parsed.path))
