"""The trace context as text: the ids log lines carry, and the W3C traceparent a job keeps to run under.

A job runs long after (and maybe on another replica than) the CreateTrainingJob call that made it, so the
call's context is stored with the job as a traceparent header value, and the job's run continues its trace.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_W3C = TraceContextTextMapPropagator()
TRACEPARENT = "traceparent"


def trace_fields() -> dict[str, str]:
    """`trace_id` and `span_id` (lowercase hex, as trace back ends show them) of the current span; {} when
    there is none."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": trace.format_trace_id(context.trace_id), "span_id": trace.format_span_id(context.span_id)}


def current_trace_parent() -> str:
    """The current span as a W3C traceparent value ("" when there is none)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT, "")


def context_of(trace_parent: str) -> Context:
    """The context whose remote parent `trace_parent` names (an empty context for "" or a malformed value)."""
    return _W3C.extract({TRACEPARENT: trace_parent}) if trace_parent else Context()
