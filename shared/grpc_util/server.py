"""Start and stop an aio gRPC server: authentication, TLS, health, reflection and error mapping.

Message sizes are set explicitly: a server accepts at most the `max_receive_bytes` its service asks for
(its largest legitimate request) and sends at most 4 MiB, what default gRPC clients accept. With
`AuthSettings.health_port`, a second, plain-text server answers grpc.health.v1 alone (kubelet's gRPC
probes cannot present a client certificate); it shares the main server's health states.
"""

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
from opentelemetry.trace import Tracer

from shared.auth import Authenticator, AuthSettings
from shared.auth.settings import is_loopback_host
from shared.grpc_util.auth_interceptor import AuthInterceptor
from shared.grpc_util.errors import ErrorMappingInterceptor
from shared.grpc_util.metrics_interceptor import MetricsInterceptor
from shared.grpc_util.request_limits import RequestLimitsInterceptor
from shared.grpc_util.tracing_interceptors import TracingServerInterceptor
from shared.metrics.rpc import RpcMetrics

MAX_SEND_BYTES = 4 * 1024 * 1024  # gRPC clients' default receive limit


def server_options(max_receive_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_receive_bytes),
        ("grpc.max_send_message_length", MAX_SEND_BYTES),
        ("grpc.so_reuseport", 0),  # a port already in use is an error, not a second listener
    ]


log = structlog.get_logger(__name__)

AddServicer = Callable[[Any, grpc.aio.Server], None]


@dataclass(frozen=True)
class RunningServer:
    server: grpc.aio.Server
    port: int  # the bound port, also when 0 was asked for
    health: health.aio.HealthServicer
    health_server: grpc.aio.Server | None = None  # the plain-text health-only server, if asked for
    health_port: int | None = None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_credentials(auth: AuthSettings) -> grpc.ServerCredentials:
    assert auth.tls_cert is not None and auth.tls_key is not None
    client_ca = auth.tls_client_ca.read_bytes() if auth.tls_client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(auth.tls_key.read_bytes(), auth.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def server_interceptors(
    auth: AuthSettings,
    rpc_metrics: RpcMetrics | None = None,
    tracer: Tracer | None = None,
    service_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> list[grpc.aio.ServerInterceptor]:
    """Outermost first: trace, count, authenticate, then map every error of what follows, then check the
    request, then the service's own. Tracing and metrics only when asked for (`tracer`, `rpc_metrics`)."""
    interceptors: list[grpc.aio.ServerInterceptor] = [
        AuthInterceptor(Authenticator(auth)),
        ErrorMappingInterceptor(),
        RequestLimitsInterceptor(),
        *service_interceptors,
    ]
    if rpc_metrics is not None:  # outside authentication: it sees the code every call ends with
        interceptors.insert(0, MetricsInterceptor(rpc_metrics))
    if tracer is not None:  # outermost: everything else runs inside the call's span
        interceptors.insert(0, TracingServerInterceptor(tracer))
    return interceptors


async def start_server(
    servicers: Sequence[tuple[AddServicer, Any]],
    service_names: Sequence[str],
    port: int,
    host: str = "127.0.0.1",
    *,
    max_receive_bytes: int,
    auth: AuthSettings | None = None,
    servicer_authenticates: bool = False,
    rpc_metrics: RpcMetrics | None = None,
    tracer: Tracer | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> RunningServer:
    """Serve `servicers` (pairs of add_XServicer_to_server and servicer) on host:port (0: any free port).

    `service_names` are the full names, e.g. "ltx.trainer.v1.TrainingService": each is reported SERVING
    by grpc.health.v1.Health and listed by server reflection. Raises AuthConfigError when `auth` does not
    fit together or would leave a non-loopback port without authentication; `servicer_authenticates` says
    that the one servicer checks each caller itself (its callers are not principals, so `auth` names none).
    `rpc_metrics`: count and time every RPC there (refused ones included). `tracer`: a span per RPC.
    `interceptors`: the service's own, innermost (they see authenticated, checked requests).
    """
    auth = auth or AuthSettings()
    auth.check(host, servicer_authenticates=servicer_authenticates)
    chain = server_interceptors(auth, rpc_metrics, tracer, interceptors)
    server = grpc.aio.server(interceptors=chain, options=server_options(max_receive_bytes))
    for add_servicer, servicer in servicers:
        add_servicer(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    address = _address(host, port)
    # add_*_port raise RuntimeError when the port is taken
    bound_port = (
        server.add_secure_port(address, server_credentials(auth)) if auth.tls else server.add_insecure_port(address)
    )
    health_server = health_port = None
    if auth.health_port is not None:
        health_server = grpc.aio.server(options=server_options(64 * 1024))
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        health_port = health_server.add_insecure_port(_address(host, auth.health_port))
        await health_server.start()
    await server.start()
    if not auth.enabled and not servicer_authenticates and not is_loopback_host(host):
        log.warning(
            "grpc_server_unauthenticated", host=host, port=bound_port, note="--insecure: every caller is 'local'"
        )
    log.info(
        "grpc_server_started",
        host=host,
        port=bound_port,
        services=list(service_names),
        tls=auth.tls,
        mtls=auth.tls_client_ca is not None,
        tokens=auth.tokens_file is not None,
        health_port=health_port,
    )
    return RunningServer(server, bound_port, health_servicer, health_server, health_port)


async def stop_server(running: RunningServer, grace: float | None = 5.0) -> None:
    """Report NOT_SERVING for every service, then stop, letting RPCs in flight finish within `grace` s."""
    await running.health.enter_graceful_shutdown()
    await running.server.stop(grace)
    if running.health_server is not None:
        await running.health_server.stop(None)
    log.info("grpc_server_stopped", port=running.port)


async def wait_for_termination_signal() -> None:
    """Return once the process gets SIGTERM or SIGINT (a pod being stopped, or Ctrl-C)."""
    received = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, received.set)
    await received.wait()
