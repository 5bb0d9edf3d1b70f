"""Send a local archive to a PreprocessService (UploadArchive) and get back its upload:// URI.

The file is read twice: once for its sha256 (sent in the header, verified by the server at the end),
once to stream it in chunks of up to 4 MiB, each with its own sha256 so the server can refuse a
corrupted chunk as soon as it arrives. Progress (MB sent, MB/s) goes to stderr: a rich bar on a terminal,
plain lines at a bounded rate elsewhere (train_svc.cli.progress).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console

from shared.api import preprocess_service_pb2 as pb
from shared.api import preprocess_service_pb2_grpc as pb_grpc
from shared.bundle import sha256_file
from shared.grpc_util.channels import ClientCredentials, aio_channel
from train_svc.cli.progress import EVERY_PERCENT, EVERY_S, Ticker, stderr_console

CHUNK_BYTES = 4 << 20  # the largest chunk the service accepts
_MB = 1e6


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
    """Bytes sent and MB/s of one upload (see the module's doc); `close()` ends the bar."""

    def __init__(
        self,
        name: str,
        total: int,
        out: TextIO | None = None,
        *,
        console: Console | None = None,
        every_percent: float = EVERY_PERCENT,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.total, self.clock = name, total, clock
        self.started = clock()
        self._ticker = Ticker(console or stderr_console(out), every_percent=every_percent, every_s=every_s, clock=clock)

    def show(self, sent: int) -> None:
        rate = sent / _MB / max(self.clock() - self.started, 1e-6)
        info = f"{sent / _MB:,.1f}/{self.total / _MB:,.1f} MB, {rate:,.1f} MB/s"
        self._ticker.update(sent, self.total, f"uploading {self.name}:", info)

    def close(self) -> None:
        self._ticker.finish()


def _with_progress(
    messages: Iterator[pb.UploadArchiveRequest], progress: UploadProgress
) -> Iterator[pb.UploadArchiveRequest]:
    sent = 0
    for message in messages:
        yield message
        sent += len(message.chunk.data)
        progress.show(sent)


async def upload_archive(
    target: str, path: Path, out: TextIO | None = None, *, credentials: ClientCredentials | None = None
) -> pb.UploadArchiveResponse:
    """Upload the archive at path to the PreprocessService at target (progress on `out`, default stderr);
    raises grpc.aio.AioRpcError on refusal."""
    sha256 = sha256_file(path)
    progress = UploadProgress(path.name, path.stat().st_size, out)
    try:
        async with aio_channel(target, credentials) as channel:
            stub = pb_grpc.PreprocessServiceStub(channel)
            return await stub.UploadArchive(_with_progress(upload_messages(path, sha256), progress))
    finally:
        progress.close()  # also when refused half-way: the bar ends before the error is printed
