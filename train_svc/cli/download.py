"""Getting a service's output file onto this machine: copied when it is on local storage, else downloaded.

DownloadArtifact streams the file in chunks after a first message naming it (size, sha256). A stream that
breaks is resumed from the last byte written; the file appears at its target only once its size and
sha256 match, so a partial or corrupted download never looks like an output.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import grpc

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.bundle import path_from_uri, sha256_file

ATTEMPTS = 3  # a stream cut off (UNAVAILABLE) is resumed this many times before giving up
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class DownloadError(Exception):
    """The file could not be fetched intact."""


def local_copy_source(artifact: common_pb2.Artifact) -> Path | None:
    """The artifact's file when it is on this machine (the services share its storage), else None."""
    if not artifact.uri.startswith("file://"):
        return None
    path = path_from_uri(artifact.uri)
    return path if path.is_file() and path.stat().st_size == artifact.size_bytes else None


def copy_checked(source: Path, artifact: common_pb2.Artifact, target: Path) -> Path:
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, partial)
    if sha256_file(partial) != artifact.sha256:
        partial.unlink()
        raise DownloadError(f"copy of {source} does not match the server's sha256 {artifact.sha256}")
    partial.replace(target)
    return target


async def download(
    stub: pb_grpc.TrainingServiceAsyncStub, name: str, artifact: str, target: Path
) -> common_pb2.Artifact:
    """Fetch `artifact` of `name` into `target` over DownloadArtifact; return the server's description of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    digest, written, described = hashlib.sha256(), 0, None
    try:
        with open(partial, "wb") as fh:
            for attempt in range(1, ATTEMPTS + 1):
                request = pb.DownloadArtifactRequest(name=name, artifact=artifact, offset=written)
                try:
                    async for message in stub.DownloadArtifact(request):
                        if message.HasField("artifact"):
                            if described is not None and message.artifact.sha256 != described.sha256:
                                raise DownloadError(f"{name} {artifact} changed on the server during the download")
                            described = message.artifact
                        if message.data:
                            if message.offset != written:
                                raise DownloadError(f"chunk at offset {message.offset}, expected {written}")
                            fh.write(message.data)
                            digest.update(message.data)
                            written += len(message.data)
                    break
                except grpc.aio.AioRpcError as err:
                    if err.code() not in _RETRYABLE or attempt == ATTEMPTS:
                        raise
                    print(f"download of {target.name} interrupted at {written} bytes; resuming", file=sys.stderr)
        if described is None or written != described.size_bytes or digest.hexdigest() != described.sha256:
            raise DownloadError(f"download of {name} {artifact} is incomplete or corrupted ({written} bytes)")
        partial.replace(target)
        return described
    finally:
        partial.unlink(missing_ok=True)


async def fetch(
    stub: pb_grpc.TrainingServiceAsyncStub, name: str, artifact: common_pb2.Artifact, target: Path, *, field: str
) -> Path:
    """`artifact` (output `field` of `name`) into `target`: copied from local storage, or downloaded."""
    source = local_copy_source(artifact)
    if source is not None:
        return copy_checked(source, artifact, target)
    print(f"downloading {target.name} ({artifact.size_bytes / 1e6:.1f} MB)", file=sys.stderr)
    described = await download(stub, name, field, target)
    if described.sha256 != artifact.sha256:
        target.unlink()
        raise DownloadError(f"{field} of {name} on the server is not the file the job recorded (sha256 differs)")
    return target
