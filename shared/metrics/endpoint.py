"""`--metrics-port`: a registry served at http://HOST:PORT/metrics on a thread of its own."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, start_http_server

log = structlog.get_logger(__name__)


@dataclass
class MetricsEndpoint:
    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int  # the bound port, also when 0 was asked for

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        log.info("metrics_server_stopped", port=self.port)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsEndpoint:
    """Serve `registry` in the Prometheus text format on host:port (0: any free port), on a daemon thread.

    It binds the host the service's gRPC port binds (so it is no more exposed than that port) and
    answers every path with the metrics (`/metrics` is what scrapers ask for). Raises OSError when the
    port is taken."""
    server, thread = start_http_server(port, addr=host.strip("[]"), registry=registry)
    bound = int(server.server_port)
    log.info("metrics_server_started", host=host, port=bound)
    return MetricsEndpoint(server, thread, host, bound)
