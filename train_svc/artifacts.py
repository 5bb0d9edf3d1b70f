"""Which file an artifact name means, and reading it back in chunks (DownloadArtifact's domain side).

"trainingJobs/{id}" + an output field (lora_file, config_file, video, debug_dataset, dataset_report,
tensorboard, loss_plot, result_file: as the job recorded it, sha256 included) or the file name of one of
its previews; or "generations/{id}" + "video" (or nothing). Only the caller's own jobs and generations
(an admin's: all) are found; anything else is NOT_FOUND, exactly as if it did not exist. A job output
that retention removed is NOT_FOUND with reason ARTIFACT_EXPIRED. Digests of files
the service did not record are computed once per file version and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.auth import Caller
from shared.bundle import path_from_uri, sha256_file
from shared.quoting import quote
from shared.request.errors import DomainError, ErrorCode, FieldViolation, InvalidRequest
from train_svc.generation.store import NAME_PREFIX as GENERATION_PREFIX
from train_svc.generation.store import GenerationStore
from train_svc.jobs.events import ArtifactWritten, FilePart
from train_svc.jobs.job import NAME_PREFIX as JOB_PREFIX
from train_svc.jobs.job import Job

CHUNK_BYTES = 1 << 20
JOB_OUTPUTS = (
    "lora_file",
    "config_file",
    "video",
    "debug_dataset",
    "dataset_report",
    "tensorboard",
    "loss_plot",
    "result_file",
)
PREVIEWS_DIR = "previews"
GENERATION_VIDEO = "video"


@dataclass(frozen=True)
class Chunk:
    offset: int
    data: bytes


class ArtifactNotFound(DomainError):
    def __init__(self, name: str, artifact: str, why: str):
        message = f"no artifact {quote(artifact)} of {quote(name)}: {why}"
        super().__init__(ErrorCode.NOT_FOUND, "ARTIFACT_NOT_FOUND", message, {"name": name, "artifact": artifact})


class ArtifactExpired(DomainError):
    def __init__(self, name: str, artifact: str, removed: datetime):
        message = (
            f"artifact {quote(artifact)} of {quote(name)} has expired: the service's retention removed the job's "
            f"outputs at {removed.isoformat()}"
        )
        metadata = {"name": name, "artifact": artifact, "remove_time": removed.isoformat()}
        super().__init__(ErrorCode.NOT_FOUND, "ARTIFACT_EXPIRED", message, metadata)


class ArtifactFinder:
    def __init__(
        self, find_job: Callable[[str, Caller], Job], job_outputs: Callable[[Job], Path], store: GenerationStore
    ):
        self._find_job = find_job
        self._job_outputs = job_outputs
        self._store = store
        self._digests: dict[tuple[Path, int, int], str] = {}  # (path, size, mtime_ns) -> sha256
        self._lock = threading.Lock()

    def find(self, name: str, artifact: str, caller: Caller) -> ArtifactWritten:
        """The file behind (name, artifact) if `caller` may read it; blocking (may hash the file): call it
        from a worker thread."""
        if name.startswith(GENERATION_PREFIX):
            path = self._store.find_video(name, caller)
            if artifact not in ("", GENERATION_VIDEO):
                raise ArtifactNotFound(name, artifact, f"a generation has one artifact, {GENERATION_VIDEO!r}")
            if path is None:
                raise ArtifactNotFound(name, artifact, "no such generation")
            return self._described(GENERATION_VIDEO, path)
        if not name.startswith(JOB_PREFIX):
            raise ArtifactNotFound(name, artifact, f"names are {JOB_PREFIX}{{id}} or {GENERATION_PREFIX}{{id}}")
        job = self._find_job(name, caller)
        removed = job.files_removed.get(FilePart.OUTPUTS)
        if artifact in JOB_OUTPUTS:
            if removed is not None:
                raise ArtifactExpired(name, artifact, removed)
            recorded = job.artifacts.get(artifact)
            if recorded is None:
                raise ArtifactNotFound(name, artifact, f"the job has not written it (state {job.state.value})")
            path = path_from_uri(recorded.uri)
            if not path.is_file():
                raise ArtifactNotFound(name, artifact, "the job recorded it, but it is no longer on the storage")
            return recorded
        if not artifact or artifact in (".", "..") or any(c in artifact for c in "/\\\0"):
            raise InvalidRequest(
                [
                    FieldViolation(
                        "artifact", f"must be an output name or a preview's file name (got {quote(artifact)})"
                    )
                ],
                reason="INVALID_ARTIFACT_NAME",
            )
        if removed is not None:
            raise ArtifactExpired(name, artifact, removed)
        path = self._job_outputs(job) / PREVIEWS_DIR / artifact
        if not path.is_file():
            raise ArtifactNotFound(name, artifact, "neither an output name nor one of its previews")
        return self._described(artifact, path)

    def _described(self, artifact: str, path: Path) -> ArtifactWritten:
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            digest = self._digests.get(key)
        if digest is None:
            digest = sha256_file(path)
            with self._lock:
                self._digests[key] = digest
        return ArtifactWritten(artifact, path.resolve().as_uri(), digest, stat.st_size)


def check_offset(artifact: ArtifactWritten, offset: int) -> None:
    if not 0 <= offset <= artifact.size_bytes:
        raise InvalidRequest(
            [FieldViolation("offset", f"must be between 0 and the file's size {artifact.size_bytes} (got {offset})")],
            reason="INVALID_OFFSET",
        )


def read_chunks(artifact: ArtifactWritten, offset: int) -> Generator[Chunk, None, None]:
    """The file from `offset` on, CHUNK_BYTES at a time (blocking: iterate it in a worker thread)."""
    with open(path_from_uri(artifact.uri), "rb") as fh:
        fh.seek(offset)
        while data := fh.read(CHUNK_BYTES):
            yield Chunk(offset, data)
            offset += len(data)
