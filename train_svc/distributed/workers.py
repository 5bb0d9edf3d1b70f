"""The service's training workers, when it trains each job on more than one rank: the control port
the workers report to, and the launcher that starts them."""

from __future__ import annotations

from dataclasses import dataclass

from shared.api import worker_control_pb2_grpc as wc_grpc
from shared.grpc_util.server import RunningServer, start_server, stop_server
from train_svc.distributed.attempts import MAX_MESSAGE_BYTES, Attempts
from train_svc.distributed.control_server import SERVICE_NAME, WorkerControlServicer
from train_svc.distributed.launcher import LaunchConfig, WorkerLauncher
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
    """The control port and launcher for a world size above 1; None for 1 (jobs train in-process)."""
    world_size = settings.ranks(placement.device)
    if world_size == 1:
        return None
    if concurrent_jobs != 1:
        raise WorkersConfigError(
            f"--world-size {world_size} gives each job every GPU: --concurrent-jobs must be 1 (got {concurrent_jobs})"
        )
    attempts = Attempts()
    control = await start_server(
        [(wc_grpc.add_WorkerControlServiceServicer_to_server, WorkerControlServicer(attempts))],
        [SERVICE_NAME],
        0,
        settings.control_host,
        max_receive_bytes=MAX_MESSAGE_BYTES,
    )
    config = LaunchConfig(
        world_size=world_size,
        control_target=f"{settings.control_host}:{control.port}",
        device=placement.device,
        precision=placement.precision,
        cpu_threads=placement.cpu_threads,
        max_attempts=settings.max_attempts,
    )
    return TrainingWorkers(WorkerLauncher(config, attempts), control)
