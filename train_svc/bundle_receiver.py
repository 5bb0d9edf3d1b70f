"""Receiving bundles by value: chunks from the preprocessor's stream written to this service's storage.

Each bundle arrives as chunks with offsets from 0, then its reference (sample id, sha256, size). The
file is written under a temporary name while it is hashed, checked against the reference, and only
then renamed into place; any gap, overlap, interleaving or mismatch is refused as data loss.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO


class BundleTransferError(Exception):
    """The bytes received for a bundle are not the bundle the preprocessor described."""


@dataclass
class _Incoming:
    sample_id: str
    tmp: Path
    fh: BinaryIO
    digest: Any  # hashlib's sha256 object
    size: int = 0


class BundleReceiver:
    def __init__(self, folder: Path):
        self.folder = folder
        self._incoming: _Incoming | None = None

    def _path_for(self, sample_id: str) -> Path:
        # Sample ids hold '/' and '#'; a digest is a safe, unique file name.
        return self.folder / f"{hashlib.sha256(sample_id.encode('utf-8')).hexdigest()[:32]}.safetensors"

    def chunk(self, sample_id: str, offset: int, data: bytes) -> None:
        incoming = self._incoming
        if incoming is None:
            if offset != 0:
                raise BundleTransferError(f"bundle {sample_id}: first chunk starts at byte {offset}, not 0")
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self._path_for(sample_id).with_suffix(f".part-{os.getpid()}")
            incoming = self._incoming = _Incoming(sample_id, tmp, open(tmp, "wb"), hashlib.sha256())  # noqa: SIM115
        elif sample_id != incoming.sample_id:
            self.abort()
            raise BundleTransferError(f"chunk of bundle {sample_id} arrived before bundle {incoming.sample_id} ended")
        if offset != incoming.size:
            self.abort()
            raise BundleTransferError(f"bundle {sample_id}: chunk at byte {offset}, expected byte {incoming.size}")
        incoming.fh.write(data)
        incoming.digest.update(data)
        incoming.size += len(data)

    def finish(self, sample_id: str, sha256: str, size_bytes: int) -> Path:
        """The reference that closes a bundle: check it against the bytes and put the file in place."""
        incoming = self._incoming
        if incoming is None or incoming.sample_id != sample_id:
            self.abort()
            raise BundleTransferError(f"bundle {sample_id} was announced without its bytes")
        incoming.fh.close()
        self._incoming = None
        digest = incoming.digest.hexdigest()
        if (incoming.size, digest) != (size_bytes, sha256):
            incoming.tmp.unlink(missing_ok=True)
            raise BundleTransferError(
                f"bundle {sample_id}: received {incoming.size} bytes with sha256 {digest}, "
                f"expected {size_bytes} bytes with sha256 {sha256}"
            )
        path = self._path_for(sample_id)
        os.replace(incoming.tmp, path)
        return path

    def abort(self) -> None:
        """Drop a bundle in progress (the stream failed or was closed)."""
        if self._incoming is not None:
            self._incoming.fh.close()
            self._incoming.tmp.unlink(missing_ok=True)
            self._incoming = None
