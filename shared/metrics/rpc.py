"""RPC figures both services report, fed by shared.grpc_util.metrics_interceptor (one per server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# An RPC's whole duration: a unary call's answer, or a stream until it ends (a watch can last hours).
RPC_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)


class RpcMetrics:
    """`ltx_rpc_handled_total` and `ltx_rpc_duration_seconds`, by full method name and gRPC code name.

    Only methods the server has a handler for are counted (an unknown method name never becomes a label),
    so both label sets are bounded by the service's API and the gRPC codes."""

    def __init__(self, registry: CollectorRegistry):
        labels = ("method", "code")
        self.handled = Counter(
            "ltx_rpc_handled", "RPCs ended, by full method name and gRPC status code", labels, registry=registry
        )
        self.duration = Histogram(
            "ltx_rpc_duration_seconds",
            "seconds from an RPC's start to its end (a stream's whole life), by method and status code",
            labels,
            buckets=RPC_SECONDS_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, code: str, seconds: float) -> None:
        self.handled.labels(method, code).inc()
        self.duration.labels(method, code).observe(seconds)
