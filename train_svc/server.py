"""TrainingService over gRPC: a thin translation layer over the job manager."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.server import RunningServer, start_server, stop_server
from shared.request.errors import FieldViolation, InvalidRequest
from shared.request.json_input import input_to_json
from shared.request.validate import resolve
from train_svc.api_mapping import job_event, training_job
from train_svc.config import TrainServiceConfig
from train_svc.jobs.manager import JobManager
from train_svc.jobs.runner import JobRunner, RunnerConfig
from train_svc.models.base_model import resolve_base_model
from train_svc.models.device import choose_placement, limit_cpu_threads
from train_svc.models.library_noise import quiet_model_libraries
from train_svc.preprocess_client import PreprocessClient

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TrainingService"].full_name
log = structlog.get_logger(__name__)


class TrainingServicer(pb_grpc.TrainingServiceServicer):
    def __init__(self, manager: JobManager):
        self._manager = manager

    async def CreateTrainingJob(self, request: pb.CreateTrainingJobRequest, context) -> pb.TrainingJob:
        settings = resolve(request.input)
        job = self._manager.create(settings, input_to_json(request.input), request.request_id)
        return training_job(job)

    async def GetTrainingJob(self, request: pb.GetTrainingJobRequest, context) -> pb.TrainingJob:
        return training_job(self._manager.get(request.name))

    async def CancelTrainingJob(self, request: pb.CancelTrainingJobRequest, context) -> pb.TrainingJob:
        return training_job(self._manager.cancel(request.name))

    async def WatchTrainingJob(self, request: pb.WatchTrainingJobRequest, context):
        if request.after_sequence < 0:
            raise InvalidRequest([FieldViolation("after_sequence", f"must be >= 0 (got {request.after_sequence})")])
        job = self._manager.get(request.name)
        async for logged in job.log.follow(request.after_sequence):
            yield job_event(logged)


@dataclass
class TrainingService:
    running: RunningServer
    manager: JobManager
    preprocess: PreprocessClient

    @property
    def port(self) -> int:
        return self.running.port

    async def stop(self, grace: float | None = 10.0) -> None:
        await stop_server(self.running, grace)
        self.manager.shutdown()
        self.preprocess.close()


async def serve(config: TrainServiceConfig) -> TrainingService:
    """Resolve the base model (failing fast if it is missing), then start serving."""
    quiet_model_libraries()
    limit_cpu_threads(config.cpu_threads)
    base_model = resolve_base_model(config.base_model)
    placement = choose_placement(config.device, config.precision)
    preprocess = PreprocessClient(
        config.preprocess_target, by_value=config.bundle_delivery == "value", storage_root=config.storage
    )
    runner = JobRunner(
        RunnerConfig(
            storage_root=config.storage,
            base_model=base_model,
            placement=placement,
            feed_forward=config.lora_feed_forward,
            seed=config.seed,
        ),
        preprocess,
    )
    manager = JobManager(runner, base_model.name, config.concurrent_jobs)
    running = await start_server(
        [(pb_grpc.add_TrainingServiceServicer_to_server, TrainingServicer(manager))],
        [SERVICE_NAME],
        config.port,
        config.host,
    )
    log.info(
        "training_service_ready",
        port=running.port,
        base_model=base_model.name,
        device=str(placement.device),
        dtype=str(placement.base_dtype),
    )
    return TrainingService(running, manager, preprocess)
