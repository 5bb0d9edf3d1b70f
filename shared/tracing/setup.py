"""A service's tracing, started with it and stopped with it: its own TracerProvider, exporting in batches.

Each service instance gets a provider of its own, which is never made the global one: two services in one
process (the tests, `ltx-trainer train` without --target) keep their service names apart, and a service
without an endpoint creates no provider at all. The gRPC interceptors and the job runner are handed its
tracer. The SDK still reads the standard OTEL_* variables it knows (OTEL_TRACES_SAMPLER,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_CERTIFICATE, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Tracer

from shared.tracing.settings import TracingSettings

INSTRUMENTATION = "ltx-trainer"  # the instrumentation scope every span of ours is reported under
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Tracing:
    """A service's tracing; without a provider it is off: no tracer, nothing to shut down."""

    provider: TracerProvider | None = None

    @property
    def tracer(self) -> Tracer | None:
        return self.provider.get_tracer(INSTRUMENTATION) if self.provider is not None else None

    def shutdown(self) -> None:
        """Export the spans still buffered, then stop the exporter (blocking: call it off the event loop)."""
        if self.provider is not None:
            self.provider.shutdown()


def otlp_exporter(endpoint: str) -> SpanExporter:
    """OTLP over gRPC to `endpoint` (http://: plain text; https://: TLS)."""
    # imported here: a service that does not trace never loads the exporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint)


def start_tracing(settings: TracingSettings) -> Tracing:
    """The service's tracing; off (nothing set up) when no endpoint is configured."""
    if not settings.otlp_endpoint:
        return Tracing()
    exporter = settings.exporter() if settings.exporter is not None else otlp_exporter(settings.otlp_endpoint)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("tracing_started", endpoint=settings.otlp_endpoint, service_name=settings.service_name)
    return Tracing(provider)
