"""Start and stop an aio gRPC server with health, reflection and the error-mapping interceptor."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from shared.grpc_util.errors import ErrorMappingInterceptor

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),  # a port already in use is an error, not a second listener
]

log = structlog.get_logger(__name__)

AddServicer = Callable[[Any, grpc.aio.Server], None]


@dataclass(frozen=True)
class RunningServer:
    server: grpc.aio.Server
    port: int  # the bound port, also when 0 was asked for
    health: health.aio.HealthServicer


async def start_server(
    servicers: Sequence[tuple[AddServicer, Any]],
    service_names: Sequence[str],
    port: int,
    host: str = "127.0.0.1",
) -> RunningServer:
    """Serve `servicers` (pairs of add_XServicer_to_server and servicer) on host:port (0: any free port).

    `service_names` are the full names, e.g. "ltx.trainer.v1.TrainingService": each is reported SERVING
    by grpc.health.v1.Health and listed by server reflection.
    """
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()], options=SERVER_OPTIONS)
    for add_servicer, servicer in servicers:
        add_servicer(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound_port = server.add_insecure_port(address)  # raises RuntimeError when the port is taken
    await server.start()
    log.info("grpc_server_started", host=host, port=bound_port, services=list(service_names))
    return RunningServer(server=server, port=bound_port, health=health_servicer)


async def stop_server(running: RunningServer, grace: float | None = 5.0) -> None:
    """Report NOT_SERVING for every service, then stop, letting RPCs in flight finish within `grace` s."""
    await running.health.enter_graceful_shutdown()
    await running.server.stop(grace)
    log.info("grpc_server_stopped", port=running.port)


async def wait_for_termination_signal() -> None:
    """Return once the process gets SIGTERM or SIGINT (a pod being stopped, or Ctrl-C)."""
    received = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, received.set)
    await received.wait()
