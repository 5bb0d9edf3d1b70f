"""A reference to one latent-ready bundle, as plain data: field for field the wire's BundleRef.

The preprocessor's BundleWritten extends it with what only the preprocessor needs; the training service
receives it. shared.api.bundle_codec turns it into the message and back by these field names, so the
list is written here and in the .proto alone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BundleRef:
    sample_id: str
    uri: str  # file:///... on shared storage ("" in the stream when the bytes come by value)
    sha256: str
    size_bytes: int
    frames: int
    height: int
    width: int
    fps: float
    caption: str  # trigger phrase included
    source_path: str  # inside the archive
    has_audio: bool = False  # the bundle carries the sample's audio
