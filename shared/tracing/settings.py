"""`--otlp-endpoint`: whether a service traces, where its spans go, and the name it reports them under."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from opentelemetry.sdk.trace.export import SpanExporter

from shared.settings import Setting, SettingsModel

ExporterFactory = Callable[[], SpanExporter]


class TracingSettings(SettingsModel):
    """Off unless `otlp_endpoint` is set: then every RPC is a span, exported over OTLP (gRPC)."""

    otlp_endpoint: Annotated[
        str | None,
        Setting(
            "--otlp-endpoint",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "send OpenTelemetry traces over OTLP/gRPC to this collector, e.g. http://otel-collector:4317 "
            "(unset: no tracing)",
        ),
    ] = None
    service_name: Annotated[
        str, Setting("--otel-service-name", "OTEL_SERVICE_NAME", "the service.name its spans carry")
    ] = "ltx-trainer"
    # Programmatic only (no flag): what makes the exporter instead of OTLP to otlp_endpoint (tests pass an
    # in-memory one). Called once per service start; the exporter is shut down when the service stops.
    exporter: ExporterFactory | None = None
