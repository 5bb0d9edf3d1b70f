"""TrainingService over gRPC: a thin translation layer over the job manager, generations and artifacts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import structlog
from google.protobuf import empty_pb2
from prometheus_client import CollectorRegistry

from shared.aio_bridge import iterate_in_thread
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.auth import current_caller
from shared.disk_usage import bytes_under
from shared.fetch_policy import create_time_problem
from shared.grpc_util.server import RunningServer, start_server, stop_server
from shared.metrics import MetricsEndpoint, serve_metrics
from shared.metrics.rpc import RpcMetrics
from shared.request.errors import FieldViolation, InvalidRequest
from shared.request.json_input import input_from_json, input_to_json
from shared.request.validate import resolve
from shared.tracing.setup import Tracing, start_tracing
from train_svc.accelerator import AcceleratorSlots
from train_svc.api.base_models import base_models_response, resolve_create_input
from train_svc.api.collection_watch import JobMessages, watch_jobs
from train_svc.api.generation_order import generation_order
from train_svc.api.job_estimate import ServiceEstimates, estimate_order, estimate_response
from train_svc.api.job_messages import artifact as artifact_message
from train_svc.api.job_messages import heartbeat, training_job
from train_svc.api.log_context import JobLogContext
from train_svc.api.stream_messages import EventMessages, generation_event
from train_svc.api.watch_errors import (
    AheadOfLog,
    CollectionWatcherTooSlow,
    CollectionWatchInterrupted,
    WatcherTooSlow,
    WatchInterrupted,
)
from train_svc.artifacts import ArtifactFinder, check_offset, read_chunks
from train_svc.config import TrainServiceConfig
from train_svc.distributed.workers import TrainingWorkers, start_workers
from train_svc.estimate.model_spec import ModelSpec
from train_svc.estimate.preflight import gpu_plan
from train_svc.generation.lora_access import LoraAccess
from train_svc.generation.service import GenerationService
from train_svc.job_run.runner import JobRunner, RunnerConfig
from train_svc.job_run.traced_run import TracedRunner
from train_svc.jobs.claims import replica_name
from train_svc.jobs.job import Job
from train_svc.jobs.manager import FollowInterrupted, JobManager, ManagerSettings
from train_svc.jobs.quotas import check_storage, principal_folders
from train_svc.jobs.store import open_store
from train_svc.jobs.store_contract import JobStore
from train_svc.metrics import MeasuredRunner, TrainMetrics
from train_svc.models.base_registry import BaseModels
from train_svc.models.device import choose_placement, limit_cpu_threads
from train_svc.models.library_noise import quiet_model_libraries
from train_svc.preprocess_client import PreprocessClient
from train_svc.retention.files import remove_job_files
from train_svc.retention.sweeper import RetentionSweeper, start_sweeper

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TrainingService"].full_name

log = structlog.get_logger(__name__)


class TrainingServicer(pb_grpc.TrainingServiceServicer):
    """Each call acts for its authenticated caller (current_caller): it sees and touches only its own jobs,
    generations and files (an admin: everyone's)."""

    def __init__(
        self,
        manager: JobManager,
        generations: GenerationService,
        artifacts: ArtifactFinder,
        lora_access: LoraAccess,
        config: TrainServiceConfig,
        estimates: ServiceEstimates,
        metrics: TrainMetrics,
        bases: BaseModels,
    ):
        self._manager = manager
        self._bases = bases
        self._metrics = metrics
        self._estimates = estimates
        self._generations = generations
        self._artifacts = artifacts
        self._lora_access = lora_access
        self._storage = config.storage
        self._fetch = config.fetch.rooted_at(config.storage)
        self._quotas = config.quotas
        self._heartbeat_s = config.heartbeat_seconds
        self._write_timeout_s = config.watch_write_timeout_seconds
        self._messages = EventMessages()
        self._job_messages = JobMessages()

    async def _storage_admission(self, principal: str) -> Callable[[], None]:
        """What admits new work of `principal` under its storage quota (QuotaExceeded when over it)."""
        quota = self._quotas.storage_bytes
        if quota is None:
            return lambda: None
        folders = principal_folders(self._storage, principal, self._manager.job_ids(principal))
        used = await asyncio.to_thread(bytes_under, folders)
        return lambda: check_storage(quota, principal, used)

    async def CreateTrainingJob(self, request: pb.CreateTrainingJobRequest, context) -> pb.TrainingJob:
        caller = current_caller()
        settings = resolve_create_input(request.input, self._bases, lambda url: create_time_problem(url, self._fetch))
        admit = await self._storage_admission(caller.principal)  # a repeat of a request_id is not new work
        job = self._manager.create(
            settings, input_to_json(request.input), caller.principal, request.request_id, admit=admit
        )
        return training_job(job)

    async def EstimateTrainingJob(
        self, request: pb.EstimateTrainingJobRequest, context
    ) -> pb.EstimateTrainingJobResponse:
        # No job, no quota: any authenticated caller may ask, and nothing is created or counted.
        return estimate_response(await self._estimates.estimate(estimate_order(request, self._bases)))

    async def ListBaseModels(self, request: pb.ListBaseModelsRequest, context) -> pb.ListBaseModelsResponse:
        return base_models_response(self._bases)

    async def GetTrainingJob(self, request: pb.GetTrainingJobRequest, context) -> pb.TrainingJob:
        return training_job(self._manager.get(request.name, current_caller()))

    async def ListTrainingJobs(self, request: pb.ListTrainingJobsRequest, context) -> pb.ListTrainingJobsResponse:
        messages: dict[str, pb.TrainingJob] = {}

        def weigh(job: Job) -> int:
            messages[job.id] = training_job(job)
            return messages[job.id].ByteSize()

        listed = self._manager.list(current_caller(), request.page_size, request.page_token, weigh)
        return pb.ListTrainingJobsResponse(
            training_jobs=[messages[job.id] for job in listed.items], next_page_token=listed.next_page_token
        )

    async def CancelTrainingJob(self, request: pb.CancelTrainingJobRequest, context) -> pb.TrainingJob:
        return training_job(self._manager.cancel(request.name, current_caller()))

    async def DeleteTrainingJob(self, request: pb.DeleteTrainingJobRequest, context) -> empty_pb2.Empty:
        remaining = context.time_remaining()  # a forced delete waits for the job to stop, within the deadline
        wait = FORCE_DELETE_WAIT_S if remaining is None else min(FORCE_DELETE_WAIT_S, max(remaining - 1.0, 0.0))
        job = await asyncio.to_thread(self._manager.delete, request.name, current_caller(), request.force, wait)
        await asyncio.to_thread(remove_job_files, self._storage, job.id)
        return empty_pb2.Empty()

    # It writes with context.write (to bound each write's wait), which grpc.aio allows for a streaming
    # handler, where the generated servicer type expects an iterator.
    async def WatchTrainingJob(  # type: ignore[override]
        self, request: pb.WatchTrainingJobRequest, context: grpc.aio.ServicerContext
    ) -> None:
        if request.after_sequence < 0:
            violation = FieldViolation("after_sequence", f"must be >= 0 (got {request.after_sequence})")
            raise InvalidRequest([violation], reason="INVALID_WATCH_REQUEST")
        job = await asyncio.to_thread(self._manager.get, request.name, current_caller())
        if request.after_sequence > job.sequence:
            raise AheadOfLog(job.name, request.after_sequence, job.sequence)
        sent = request.after_sequence
        watchers = self._metrics.watchers.labels("WatchTrainingJob")
        watchers.inc()
        try:
            async for logged in self._manager.follow(job.id, request.after_sequence, self._heartbeat_s):
                message = heartbeat(sent) if logged is None else self._messages.of(job.id, logged)
                try:
                    await asyncio.wait_for(context.write(message), self._write_timeout_s)
                except TimeoutError:
                    await self._count_cut_off(job, sent)
                    raise WatcherTooSlow(job.name, sent, self._write_timeout_s) from None
                if logged is not None:
                    sent = logged.sequence
        except FollowInterrupted:  # the service is stopping; the job resumes here later or elsewhere
            raise WatchInterrupted(job.name, sent) from None
        finally:
            watchers.dec()

    async def _count_cut_off(self, job: Job, sent: int) -> None:
        """A job watcher cut off as too slow: it misses the job's events after `sent`, as of now."""
        try:
            latest = (await asyncio.to_thread(self._manager.get, job.name, current_caller())).sequence
        except Exception:  # the store is unreachable: count the event being written
            latest = sent + 1
        self._metrics.cut_off("WatchTrainingJob", latest - sent)

    async def WatchTrainingJobs(  # type: ignore[override]
        self, request: pb.WatchTrainingJobsRequest, context: grpc.aio.ServicerContext
    ) -> None:
        sent = ""

        async def send(message: pb.WatchTrainingJobsResponse) -> None:
            nonlocal sent
            try:
                await asyncio.wait_for(context.write(message), self._write_timeout_s)
            except TimeoutError:
                self._metrics.cut_off("WatchTrainingJobs", 1)
                raise CollectionWatcherTooSlow(sent, self._write_timeout_s) from None
            sent = message.resume_token

        watchers = self._metrics.watchers.labels("WatchTrainingJobs")
        watchers.inc()
        try:
            await watch_jobs(self._manager, request, current_caller(), send, self._job_messages, self._heartbeat_s)
        finally:
            watchers.dec()
        raise CollectionWatchInterrupted(sent)  # it ends only when the service stops

    async def GenerateVideo(self, request: gen_pb.GenerateVideoRequest, context):
        caller = current_caller()
        order = generation_order(request, caller, self._lora_access, self._bases)
        (await self._storage_admission(caller.principal))()
        async for event in self._generations.generate(order, caller):
            yield generation_event(event)

    async def DownloadArtifact(self, request: pb.DownloadArtifactRequest, context):
        if request.offset < 0:
            raise InvalidRequest(
                [FieldViolation("offset", f"must be >= 0 (got {request.offset})")], reason="INVALID_OFFSET"
            )
        artifact = await asyncio.to_thread(self._artifacts.find, request.name, request.artifact, current_caller())
        check_offset(artifact, request.offset)
        yield pb.DownloadArtifactResponse(artifact=artifact_message(artifact), offset=request.offset)
        async for chunk in iterate_in_thread(read_chunks(artifact, request.offset), "artifact-download", 4):
            yield pb.DownloadArtifactResponse(offset=chunk.offset, data=chunk.data)


@dataclass
class TrainingService:
    running: RunningServer
    manager: JobManager
    generations: GenerationService
    preprocess: PreprocessClient
    store: JobStore
    estimates: ServiceEstimates
    workers: TrainingWorkers | None = None
    sweeper: RetentionSweeper | None = None
    registry: CollectorRegistry | None = None
    metrics_endpoint: MetricsEndpoint | None = None
    tracing: Tracing = Tracing()

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def metrics_port(self) -> int | None:
        return self.metrics_endpoint.port if self.metrics_endpoint is not None else None

    async def stop(self, grace: float = 25.0) -> None:
        """Graceful shutdown within `grace` seconds: `refuse_new_work`, then `wind_down`."""
        deadline = time.monotonic() + grace
        await self.refuse_new_work()
        await self.wind_down(deadline)

    async def refuse_new_work(self) -> None:
        """Health turns NOT_SERVING (so the mesh sends nothing new) and CreateTrainingJob fails UNAVAILABLE."""
        await self.running.health.enter_graceful_shutdown()
        self.manager.refuse_new_jobs()

    async def wind_down(self, deadline: float) -> None:
        """Running jobs stop at their next step boundary with a checkpoint, to resume on the next start;
        watchers get every event recorded until then and their streams end UNAVAILABLE; the server stops
        by `deadline` (time.monotonic())."""
        # Waiting for the job threads must not block this event loop: in-process, the PreprocessService a
        # running job is still reading from is served by the same loop (blocking it here deadlocked).
        jobs_budget = max(deadline - time.monotonic(), 0.0) * 0.8  # the rest is for ending the streams
        await asyncio.to_thread(self.manager.stop_jobs, jobs_budget)
        self.manager.interrupt_watchers()
        await asyncio.to_thread(self.generations.shutdown)
        if self.workers is not None:  # after the jobs: their workers' last events come through it
            await self.workers.stop(0.0)
        await stop_server(self.running, max(deadline - time.monotonic(), 0.0))
        self.estimates.close()  # after the server: no estimate is asked for any more
        if self.sweeper is not None:  # before the store it reads
            await asyncio.to_thread(self.sweeper.stop)
        self.preprocess.close()
        if self.metrics_endpoint is not None:  # before the store its job counts read
            await asyncio.to_thread(self.metrics_endpoint.stop)
        self.store.close()
        await asyncio.to_thread(self.tracing.shutdown)  # last: the jobs' and the calls' spans have ended


FORCE_DELETE_WAIT_S = 60.0  # how long a forced DeleteTrainingJob waits for the job to stop (at most)
# The largest request this service takes: CreateTrainingJobRequest at its field limits is ~130 KB.
MAX_REQUEST_BYTES = 256 * 1024


async def serve(config: TrainServiceConfig) -> TrainingService:
    """Check the settings, open the job store (the embedded one is refused while another service owns it),
    resolve the base models (failing fast if one is missing), then start serving."""
    config.auth.check(config.server.host)
    store = open_store(config.store, config.storage)  # before anything starts: a second owner goes no further
    try:
        return await _serve(config, store)
    except BaseException:
        store.close()
        raise


async def _serve(config: TrainServiceConfig, store: JobStore) -> TrainingService:
    quiet_model_libraries()
    limit_cpu_threads(config.placement.cpu_threads)
    bases = BaseModels.resolve(config.base_model)
    memory = config.placement
    placement = choose_placement(memory.device, memory.precision, memory.base_weights, memory.offload_blocks)
    tracing = start_tracing(config.tracing)
    preprocess = PreprocessClient.for_link(config.preprocess, config.storage, config.auth, tracing.tracer)
    space = config.space
    workers = await start_workers(config.workers, config.placement, config.concurrent_jobs)
    runner = JobRunner(
        RunnerConfig(
            storage_root=config.storage,
            bases=bases,
            placement=placement,
            settings=config.run,
            gradient_checkpointing=memory.gradient_checkpointing,
            space=space,
            workers=workers.launcher if workers is not None else None,
            live_job=lambda job_id: (stored := store.job(job_id)) is not None and not stored.state.is_final,
        ),
        preprocess,
    )
    slots = AcceleratorSlots(config.concurrent_jobs)  # shared by training jobs and generations
    world_size = workers.launcher.config.world_size if workers is not None else 1
    registry = CollectorRegistry()  # this instance's own (see shared.metrics)
    metrics = TrainMetrics(registry, store, cuda=placement.device.type == "cuda")
    manager = JobManager(
        TracedRunner(MeasuredRunner(runner, metrics), tracing.tracer),
        slots,
        store,
        lambda input_json: resolve(input_from_json(input_json)),
        ManagerSettings(
            bases,
            holder=replica_name(),
            lease_seconds=config.store.lease_seconds,
            quotas=config.quotas,
            batch_size=world_size,
        ),
    )
    manager.start()
    generations = GenerationService(
        config.storage, bases, placement, slots, manager.get, space, config.generation.pipeline_idle_seconds
    )
    metrics.watch_pipeline(generations.pipeline_bytes)
    artifacts = ArtifactFinder(manager.get, runner.output_dir, generations.store)
    lora_access = LoraAccess(config.storage, manager.job_ids, config.extra_lora_dirs)
    estimates = ServiceEstimates(
        {base_id: ModelSpec.from_directory(base.path, base.name, base.version) for base_id, base in bases},
        gpu_plan(memory.precision, memory.base_weights, memory.gradient_checkpointing, memory.offload_blocks),
        feed_forward=config.run.feed_forward,
        preview_steps=config.run.preview_steps,
        world_size=world_size,
    )
    servicer = TrainingServicer(manager, generations, artifacts, lora_access, config, estimates, metrics, bases)
    endpoint = None
    if config.server.metrics_port is not None:
        endpoint = serve_metrics(registry, config.server.host, config.server.metrics_port)
    try:
        running = await start_server(
            [(pb_grpc.add_TrainingServiceServicer_to_server, servicer)],
            [SERVICE_NAME],
            config.server.port,
            config.server.host,
            max_receive_bytes=MAX_REQUEST_BYTES,
            auth=config.auth,
            rpc_metrics=RpcMetrics(registry),
            tracer=tracing.tracer,
            interceptors=[JobLogContext()],
        )
    except BaseException:
        if endpoint is not None:
            endpoint.stop()
        tracing.shutdown()
        raise
    log.info(
        "training_service_ready",
        port=running.port,
        replica=manager.replica,
        job_store="postgresql" if config.store.shared else "sqlite",
        base_models={base_id: base.name for base_id, base in bases},
        device=str(placement.device),
        dtype=str(placement.base_dtype),
    )
    sweeper = start_sweeper(store, config.storage, config.retention, metrics.swept)
    return TrainingService(
        running, manager, generations, preprocess, store, estimates, workers, sweeper, registry, endpoint, tracing
    )
