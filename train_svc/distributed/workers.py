"""The service's training workers, when it trains each job on more than one rank or on other machines:
the control port the workers report to, and the launcher that starts or awaits them."""

from __future__ import annotations

from dataclasses import dataclass

from shared.api import worker_control_pb2_grpc as wc_grpc
from shared.auth import AuthSettings
from shared.grpc_util.server import RunningServer, start_server, stop_server
from train_svc.distributed.attempts import MAX_MESSAGE_BYTES, Attempts
from train_svc.distributed.control_server import SERVICE_NAME, WorkerControlServicer
from train_svc.distributed.external_launch import ExternalLaunch
from train_svc.distributed.launcher import Launch, LaunchConfig, WorkerLauncher
from train_svc.distributed.local_launch import LocalLaunch
from train_svc.distributed.settings import DistributedSettings
from train_svc.models.device import PlacementSettings


class WorkersConfigError(ValueError):
    """The distributed settings do not fit the rest (the service refuses to start)."""


@dataclass
class TrainingWorkers:
    launcher: WorkerLauncher
    control: RunningServer

    async def stop(self, grace: float) -> None:
        await stop_server(self.control, grace)


async def start_workers(
    settings: DistributedSettings, placement: PlacementSettings, concurrent_jobs: int
) -> TrainingWorkers | None:
    """The control port and launcher for a world size above 1 or an external launch; None when each job
    trains in the service's own process."""
    world_size = settings.ranks(placement.device)
    if world_size == 1 and settings.launch == "local":
        return None
    if settings.launch == "local" and concurrent_jobs != 1:
        raise WorkersConfigError(
            f"--world-size {world_size} gives each job every GPU: --concurrent-jobs must be 1 (got {concurrent_jobs})"
        )
    tls = settings.control_tls
    attempts = Attempts()
    control = await start_server(
        [(wc_grpc.add_WorkerControlServiceServicer_to_server, WorkerControlServicer(attempts))],
        [SERVICE_NAME],
        settings.control_port,
        settings.control_host,
        max_receive_bytes=MAX_MESSAGE_BYTES,
        auth=AuthSettings(tls_cert=tls[0], tls_key=tls[1]) if tls is not None else None,
        servicer_authenticates=True,  # by the attempt's token
    )
    config = LaunchConfig(
        world_size=world_size,
        control_target=f"{settings.control_host}:{control.port}",
        device=placement.device,
        precision=placement.precision,
        base_weights=placement.base_weights,
        offload_blocks=placement.offload_blocks,
        cpu_threads=placement.cpu_threads,
        max_attempts=settings.max_attempts,
        shard_base=settings.shard_base,
    )
    launch: Launch = (
        LocalLaunch(config) if settings.launch == "local" else ExternalLaunch(control.port, settings.connect_seconds)
    )
    return TrainingWorkers(WorkerLauncher(config, attempts, launch), control)
