"""Prometheus metrics: each service instance keeps its own registry and serves it at /metrics over plain HTTP.

A registry per instance (never prometheus_client's global one), so two services in one process (the
tests, `ltx-trainer train` without --target) keep their figures apart. Names follow Prometheus
conventions: `ltx_<service>_...`, the unit in the name (`_seconds`, `_bytes`), `_total` on counters, and
only bounded label sets (a method, a status code, a state, an outcome: never a job id or a principal).
"""

from shared.metrics.endpoint import MetricsEndpoint, serve_metrics

__all__ = ["MetricsEndpoint", "serve_metrics"]
