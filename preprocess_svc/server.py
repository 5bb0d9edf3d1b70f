"""PreprocessService over gRPC: validates the request, runs the pipeline, translates its events.

Preprocess serves internal principals only (the training service), which name the dataset's owner;
UploadArchive serves any principal and files the upload under that principal.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Generator
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry

from preprocess_svc.config import PreprocessServiceConfig
from preprocess_svc.dataset_cache import bound_cache
from preprocess_svc.delivery import BundleChunk, inline_bundles
from preprocess_svc.events import BundleWritten, DatasetWarning, PreprocessEvent, Progress, SkippedFile, Summary
from preprocess_svc.metrics import PipelineMetrics
from preprocess_svc.pipeline import run_preprocess
from preprocess_svc.settings import (
    DEFAULT_SPLIT_THRESHOLD_S,
    MAX_SPLIT_THRESHOLD_S,
    MIN_SPLIT_THRESHOLD_S,
    PreprocessSettings,
)
from preprocess_svc.uploads import StoredUpload, UploadError, UploadHeader, UploadReason, UploadWriter
from preprocess_svc.worker_pool import WorkerPool
from shared.aio_bridge import iterate_in_thread
from shared.api import common_pb2
from shared.api import preprocess_service_pb2 as pb
from shared.api import preprocess_service_pb2_grpc as pb_grpc
from shared.api.bundle_codec import bundle_ref_to_proto
from shared.api.report_codec import file_report_to_proto, skipped_file_to_proto
from shared.auth import current_caller
from shared.auth.caller import valid_principal
from shared.dataset_report import FileReport
from shared.disk_space import SpaceGuard
from shared.disk_usage import bytes_under
from shared.fetch_policy import FetchPolicy
from shared.grpc_util.server import RunningServer, start_server, stop_server
from shared.metrics import MetricsEndpoint, serve_metrics
from shared.metrics.rpc import RpcMetrics
from shared.quoting import clip, quote
from shared.request.errors import DomainError, ErrorCode, FieldViolation, InvalidRequest, QuotaExceeded
from shared.tracing.setup import Tracing, start_tracing
from shared.uploads_layout import owner_uploads_dir

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PreprocessService"].full_name
_JOB_ID = re.compile(r"[0-9a-f]{16}")  # how the training service mints job (and so dataset) ids
# The largest request this service takes: an upload chunk of 4 MiB and its envelope.
MAX_REQUEST_BYTES = 4 * 1024 * 1024 + 64 * 1024
_MEDIA_KIND = {"video": common_pb2.MEDIA_KIND_VIDEO, "image": common_pb2.MEDIA_KIND_IMAGE}
log = structlog.get_logger(__name__)


class InternalOnly(DomainError):
    def __init__(self, principal: str):
        message = (
            f"Preprocess serves the training service only; {quote(principal, 80)} is not among this service's "
            "internal principals (--internal-principals)"
        )
        super().__init__(ErrorCode.PERMISSION_DENIED, "INTERNAL_ONLY", message)


def settings_from_request(
    request: pb.PreprocessRequest, workers: int, fetch: FetchPolicy, space: SpaceGuard
) -> PreprocessSettings:
    problems = []
    if not _JOB_ID.fullmatch(request.dataset_id):
        problems.append(FieldViolation("dataset_id", "must be the training job's id: 16 lowercase hex digits"))
    if not valid_principal(request.owner):
        problems.append(FieldViolation("owner", "is required: the principal the dataset is for"))
    if not request.training_data_url.strip():
        problems.append(FieldViolation("training_data_url", "is required"))
    if request.number_of_frames < 1 or (request.number_of_frames - 1) % 8:
        problems.append(FieldViolation("number_of_frames", f"must be 8k+1 (got {request.number_of_frames})"))
    if not 1 <= request.frame_rate <= 240:
        problems.append(FieldViolation("frame_rate", f"must be 1..240 (got {request.frame_rate})"))
    for name in ("width", "height"):
        value = getattr(request, name)
        if value < 32 or value % 32:
            problems.append(FieldViolation(name, f"must be a positive multiple of 32 (got {value})"))
    threshold = request.split_input_duration_threshold or DEFAULT_SPLIT_THRESHOLD_S
    if not MIN_SPLIT_THRESHOLD_S <= threshold <= MAX_SPLIT_THRESHOLD_S:
        problems.append(
            FieldViolation(
                "split_input_duration_threshold",
                f"must be {MIN_SPLIT_THRESHOLD_S:g}..{MAX_SPLIT_THRESHOLD_S:g} seconds, or 0 for the default "
                f"{DEFAULT_SPLIT_THRESHOLD_S:g} (got {threshold:g})",
            )
        )
        threshold = DEFAULT_SPLIT_THRESHOLD_S
    if request.delivery not in pb.BundleDelivery.values():
        problems.append(FieldViolation("delivery", f"unknown BundleDelivery value {request.delivery}"))
    split = request.split_input_into_scenes if request.HasField("split_input_into_scenes") else True
    audio = {
        name: getattr(request, name) if request.HasField(name) else True
        for name in ("with_audio", "audio_normalize", "audio_preserve_pitch")
    }
    try:
        settings = PreprocessSettings(
            dataset_id=request.dataset_id if _JOB_ID.fullmatch(request.dataset_id) else "0" * 16,
            training_data_url=request.training_data_url,
            trigger_phrase=request.trigger_phrase,
            number_of_frames=max(request.number_of_frames, 1),
            frame_rate=max(request.frame_rate, 1),
            width=max(request.width, 1),
            height=max(request.height, 1),
            split_input_into_scenes=split,
            split_input_duration_threshold=threshold,
            auto_scale_input=request.auto_scale_input,
            **audio,
            owner=request.owner,
            workers=workers,
            fetch=fetch,
            space=space,
        )
    except ValueError as exc:
        problems.append(FieldViolation("", str(exc)))
    if problems:
        raise InvalidRequest(problems, reason="INVALID_PREPROCESS_REQUEST")
    return settings


def event_message(event) -> pb.PreprocessResponse:
    if isinstance(event, Progress):
        return pb.PreprocessResponse(
            progress=common_pb2.PreprocessProgress(
                files_total=event.files_total,
                files_done=event.files_done,
                samples_written=event.samples_written,
                files_skipped=event.files_skipped,
            )
        )
    if isinstance(event, SkippedFile):
        return pb.PreprocessResponse(skipped_file=skipped_file_to_proto(event.path, str(event.reason), event.message))
    if isinstance(event, DatasetWarning):
        return pb.PreprocessResponse(
            warning=common_pb2.DatasetWarning(path=event.path, code=event.code, message=event.message)
        )
    if isinstance(event, BundleWritten):
        return pb.PreprocessResponse(bundle=bundle_ref_to_proto(event))
    if isinstance(event, FileReport):
        return pb.PreprocessResponse(file_report=file_report_to_proto(event))
    if isinstance(event, BundleChunk):
        return pb.PreprocessResponse(
            bundle_chunk=pb.BundleChunk(sample_id=event.sample_id, offset=event.offset, data=event.data)
        )
    if isinstance(event, Summary):
        return pb.PreprocessResponse(
            summary=pb.PreprocessSummary(
                media_kind=_MEDIA_KIND[event.media_kind],
                samples=event.samples,
                files_skipped=event.files_skipped,
                wall_seconds=event.wall_seconds,
                from_cache=event.from_cache,
                cache_key=event.cache_key,
            )
        )
    raise TypeError(f"no API form for event {type(event).__name__}")


class PreprocessServicer(pb_grpc.PreprocessServiceServicer):
    def __init__(self, config: PreprocessServiceConfig, pool: WorkerPool, metrics: PipelineMetrics | None = None):
        self._config = config
        self._metrics = metrics
        self._pool = pool  # the service's warm worker processes, shared by all runs
        self._space = config.space

    async def Preprocess(self, request: pb.PreprocessRequest, context):
        caller = current_caller()
        if not caller.internal:
            raise InternalOnly(caller.principal)
        settings = settings_from_request(request, self._config.worker_count, self._config.fetch, self._space)
        # This call's task only: every line of the run (its thread and worker tasks too) names the job.
        structlog.contextvars.bind_contextvars(job_id=settings.dataset_id)
        log.info(
            "preprocess_started",
            dataset=settings.dataset_id,
            owner=settings.owner,
            url=clip(settings.training_data_url),
        )
        cancel = threading.Event()  # the call ended early: stop a download at once
        try:
            events = run_preprocess(
                settings,
                self._config.storage,
                worker_pool=self._pool,
                use_cache=self._config.cache,
                cache_max_bytes=self._config.cache_max_bytes,
                cancel=cancel,
                metrics=self._metrics,
            )
            by_value = request.delivery == pb.BUNDLE_DELIVERY_BY_VALUE
            run: Generator[PreprocessEvent | BundleChunk, None, None] = inline_bundles(events) if by_value else events
            async for event in iterate_in_thread(run, "preprocess"):
                yield event_message(event)
        finally:
            cancel.set()

    async def UploadArchive(self, request_iterator, context) -> pb.UploadArchiveResponse:
        owner = current_caller().principal
        writer: UploadWriter | None = None
        try:
            async for message in request_iterator:
                part = message.WhichOneof("part")
                if writer is None:
                    writer = await self._start_upload(message, part, owner)
                elif part == "chunk":
                    chunk = message.chunk
                    await asyncio.to_thread(writer.write, chunk.offset, chunk.data, chunk.sha256)
                else:
                    raise UploadError(UploadReason.INVALID_UPLOAD_HEADER, "only the first message may carry a header")
            if writer is None:
                raise UploadError(UploadReason.MISSING_HEADER, "the upload stream ended without any message")
            stored = await asyncio.to_thread(writer.finish)
        except BaseException:  # refused, failed or cancelled by the client: keep nothing
            if writer is not None:
                writer.abort()
            raise
        return uploaded_archive_message(stored)

    async def _start_upload(self, message: pb.UploadArchiveRequest, part: str | None, owner: str) -> UploadWriter:
        if part != "header":
            raise UploadError(UploadReason.MISSING_HEADER, "the first message of an upload must carry the header")
        header = UploadHeader(message.header.file_name, message.header.total_size_bytes, message.header.sha256)
        directory = owner_uploads_dir(self._config.storage, owner)
        quota = self._config.quota_storage_bytes
        if quota is not None:
            used = await asyncio.to_thread(bytes_under, [directory])
            if used + max(header.total_size_bytes, 0) > quota:
                raise QuotaExceeded(
                    f"principal:{owner}",
                    "storage_bytes",
                    f"{owner} keeps {used:,} bytes of uploads here; {header.total_size_bytes:,} more would pass "
                    f"its quota of {quota:,} bytes",
                )
        return UploadWriter(directory, header, max_bytes=self._config.max_upload_bytes, space=self._space)


def uploaded_archive_message(stored: StoredUpload) -> pb.UploadArchiveResponse:
    return pb.UploadArchiveResponse(uri=stored.uri, sha256=stored.sha256, size_bytes=stored.size_bytes)


@dataclass
class PreprocessService:
    running: RunningServer
    pool: WorkerPool
    registry: CollectorRegistry
    metrics_endpoint: MetricsEndpoint | None = None
    tracing: Tracing = Tracing()

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def metrics_port(self) -> int | None:
        return self.metrics_endpoint.port if self.metrics_endpoint is not None else None

    async def stop(self, grace: float | None = 10.0) -> None:
        await stop_server(self.running, grace)
        await asyncio.to_thread(self.pool.shutdown)
        if self.metrics_endpoint is not None:
            await asyncio.to_thread(self.metrics_endpoint.stop)
        await asyncio.to_thread(self.tracing.shutdown)  # after the server: its last spans are exported


async def serve(config: PreprocessServiceConfig) -> PreprocessService:
    config.auth.check(config.server.host)
    config.storage.mkdir(parents=True, exist_ok=True)
    # Started now, so the first request finds its workers launched and their imports done.
    pool = WorkerPool(config.worker_count)
    pool.start()
    if config.cache:  # a bound lowered since the last start applies at once
        await asyncio.to_thread(bound_cache, config.storage, config.cache_max_bytes)
    registry = CollectorRegistry()  # this instance's own (see shared.metrics)
    endpoint = None
    tracing = start_tracing(config.tracing)
    try:
        if config.server.metrics_port is not None:
            endpoint = serve_metrics(registry, config.server.host, config.server.metrics_port)
        running = await start_server(
            [
                (
                    pb_grpc.add_PreprocessServiceServicer_to_server,
                    PreprocessServicer(config, pool, PipelineMetrics(registry)),
                )
            ],
            [SERVICE_NAME],
            config.server.port,
            config.server.host,
            max_receive_bytes=MAX_REQUEST_BYTES,
            auth=config.auth,
            rpc_metrics=RpcMetrics(registry),
            tracer=tracing.tracer,
        )
    except BaseException:
        await asyncio.to_thread(pool.shutdown)
        if endpoint is not None:
            endpoint.stop()
        tracing.shutdown()
        raise
    return PreprocessService(running, pool, registry, endpoint, tracing)
