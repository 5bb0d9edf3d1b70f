"""Send a local archive to a PreprocessService (UploadArchive) and get back its upload:// URI.

The file is read twice: once for its sha256 (sent in the header, verified by the server at the end),
once to stream it in chunks of up to 4 MiB, each with its own sha256 so the server can refuse a
corrupted chunk as soon as it arrives. Progress goes to stderr.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from shared.api import preprocess_service_pb2 as pb
from shared.api import preprocess_service_pb2_grpc as pb_grpc
from shared.bundle import sha256_file
from shared.grpc_util.channels import ClientCredentials, aio_channel

CHUNK_BYTES = 4 << 20  # the largest chunk the service accepts
_MB = 1e6
_PROGRESS_EVERY_S = 0.5


def upload_messages(path: Path, sha256: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pb.UploadArchiveRequest]:
    """The header, then one message per chunk of the file at path."""
    size = path.stat().st_size
    yield pb.UploadArchiveRequest(
        header=pb.UploadArchiveHeader(file_name=path.name, total_size_bytes=size, sha256=sha256)
    )
    offset = 0
    with open(path, "rb") as f:
        while data := f.read(chunk_bytes):
            chunk = pb.UploadArchiveChunk(offset=offset, data=data, sha256=hashlib.sha256(data).hexdigest())
            yield pb.UploadArchiveRequest(chunk=chunk)
            offset += len(data)


class UploadProgress:
    """Bytes sent and MB/s on one stderr line, refreshed at most twice a second."""

    def __init__(self, name: str, total: int, out: TextIO = sys.stderr) -> None:
        self.name, self.total, self.out = name, total, out
        self.started = self._shown = time.monotonic()

    def show(self, sent: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown < _PROGRESS_EVERY_S:
            return
        self._shown = now
        rate = sent / _MB / max(now - self.started, 1e-6)
        line = f"\ruploading {self.name}: {sent / _MB:,.1f}/{self.total / _MB:,.1f} MB, {rate:,.1f} MB/s"
        print(line, end="\n" if final else "", file=self.out, flush=True)


def _with_progress(
    messages: Iterator[pb.UploadArchiveRequest], progress: UploadProgress
) -> Iterator[pb.UploadArchiveRequest]:
    sent = 0
    for message in messages:
        yield message
        sent += len(message.chunk.data)
        progress.show(sent)
    progress.show(sent, final=True)


async def upload_archive(
    target: str, path: Path, out: TextIO = sys.stderr, *, credentials: ClientCredentials | None = None
) -> pb.UploadArchiveResponse:
    """Upload the archive at path to the PreprocessService at target; raises grpc.aio.AioRpcError on refusal."""
    sha256 = sha256_file(path)
    progress = UploadProgress(path.name, path.stat().st_size, out)
    async with aio_channel(target, credentials) as channel:
        stub = pb_grpc.PreprocessServiceStub(channel)
        return await stub.UploadArchive(_with_progress(upload_messages(path, sha256), progress))
