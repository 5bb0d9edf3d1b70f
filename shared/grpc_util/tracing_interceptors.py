"""OpenTelemetry spans for gRPC calls: a SERVER span per RPC a server handles, a CLIENT span per call made.

The caller's trace context rides in the call's metadata (`traceparent`, through the configured
propagators, W3C by default): the client injects its span's, the server continues it. The server span is
current while the handler runs (its log lines carry its ids) and ends with the call's status code; a
client span ends when the call does (for a stream: when its last message or its error arrives). Only
services that trace install these (shared.tracing): without an endpoint, no interceptor is added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from shared.grpc_util.channels import sync_call_details
from shared.grpc_util.handler_wrapping import OnEnd, WrappingInterceptor, around_behavior
from shared.grpc_util.metrics_interceptor import code_name

# Probes and tooling, not work: kubelet's health checks every few seconds would drown the traces.
UNTRACED_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# The codes that are the server's fault (OpenTelemetry's gRPC conventions); the rest are the caller's.
_SERVER_ERRORS = frozenset({"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"})


def rpc_attributes(method: str) -> dict[str, str]:
    """The span attributes of the full method name "/package.Service/Method"."""
    service, _, name = method.lstrip("/").partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def _end_with(span: Span, code: str, message: str | None, failed: bool) -> None:
    span.set_attribute("rpc.grpc.status_code", grpc.StatusCode[code].value[0])
    if failed:
        span.set_status(Status(StatusCode.ERROR, f"{code}: {message}" if message else code))


class TracingServerInterceptor(WrappingInterceptor):
    """Outermost: the span covers authentication and every other interceptor, and ends with the final code."""

    def __init__(self, tracer: Tracer):
        self._tracer = tracer

    def leaves_alone(self, method: str) -> bool:
        return method.startswith(UNTRACED_SERVICES)

    def wrap(self, behavior: Callable, method: str, handler: grpc.RpcMethodHandler) -> Callable:
        tracer = self._tracer

        @contextmanager
        def traced(context: grpc.aio.ServicerContext) -> Iterator[OnEnd]:
            parent = propagate.extract(dict(context.invocation_metadata() or ()))
            with tracer.start_as_current_span(
                method.lstrip("/"),
                context=parent,
                kind=SpanKind.SERVER,
                attributes=rpc_attributes(method),
                record_exception=False,  # a handler's errors reach here as aborts: the status code says it
                set_status_on_exception=False,
            ) as span:
                yield lambda error: _end_server_span(span, context, error)

        return around_behavior(behavior, traced)


def _end_server_span(span: Span, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
    code, details = code_name(context, error), context.details()
    _end_with(span, code, details if isinstance(details, str) else None, code in _SERVER_ERRORS)


class TracingClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """For a (non-aio) channel: `grpc.intercept_channel(channel, TracingClientInterceptor(tracer))`. The
    span is a child of the span current where the call is made."""

    def __init__(self, tracer: Tracer):
        self._tracer = tracer

    def _traced(self, continuation: Callable, details: grpc.ClientCallDetails, request: Any) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        span = self._tracer.start_span(method.lstrip("/"), kind=SpanKind.CLIENT, attributes=rpc_attributes(method))
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        try:
            call = continuation(sync_call_details(details, tuple(carrier.items())), request)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.end()
            raise
        call.add_done_callback(lambda done: _end_client_span(span, done))
        return call

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return self._traced(continuation, client_call_details, request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return self._traced(continuation, client_call_details, request)


def _end_client_span(span: Span, call: Any) -> None:
    code = call.code()
    name = code.name if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN.name
    _end_with(span, name, call.details(), name != "OK")
    span.end()


def traced_channel(channel: grpc.Channel, tracer: Tracer) -> grpc.Channel:
    """`channel` with a CLIENT span for each unary or server-streaming call made on it."""
    return grpc.intercept_channel(channel, TracingClientInterceptor(tracer))
