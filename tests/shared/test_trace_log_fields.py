"""shared.tracing and the log lines: trace and span ids on every line a span is current for, the context
kept as a traceparent, carried into threads and worker tasks; nothing set up without an endpoint."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Generator

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from preprocess_svc.worker_pool import _in_log_context
from shared.aio_bridge import iterate_in_thread
from shared.auth import AuthSettings
from shared.grpc_util.server import server_interceptors
from shared.grpc_util.tracing_interceptors import TracingServerInterceptor
from shared.logs import configure_logging
from shared.tracing.context import context_of, current_trace_parent, trace_fields
from shared.tracing.settings import TracingSettings
from shared.tracing.setup import start_tracing
from train_svc.config import TrainServiceConfig
from train_svc.job_run.traced_run import TracedRunner
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged
from train_svc.jobs.job import Job


@pytest.fixture
def restore_logging():
    """configure_logging changes process-wide state: put the root logger, warnings and structlog back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def tracer() -> trace.Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return provider.get_tracer("test")


def _lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_lines_carry_the_current_spans_ids_and_the_bound_job_id(restore_logging, tracer):
    out = io.StringIO()
    configure_logging(json=True, level="info", stream=out)
    log = structlog.get_logger("train_svc.job_run.runner")
    log.info("before any span")
    with tracer.start_as_current_span("outer") as span:
        structlog.contextvars.bind_contextvars(job_id="0123456789abcdef")
        log.info("in a span")
        logging.getLogger("grpc._server").warning("a library's record in the span")
    before, inside, library = _lines(out)
    assert "trace_id" not in before and "span_id" not in before
    context = span.get_span_context()
    for line in (inside, library):
        assert line["trace_id"] == f"{context.trace_id:032x}" and line["span_id"] == f"{context.span_id:016x}"
        assert line["job_id"] == "0123456789abcdef"


def test_ids_bound_without_a_span_are_kept(restore_logging):
    """A worker process has no span: the ids its task was handed are the ones its lines carry."""
    out = io.StringIO()
    configure_logging(json=True, level="info", stream=out)

    def task(word: str) -> str:
        structlog.get_logger("preprocess_svc.sample_worker").info("fitted", word=word)
        return word

    bound = {"job_id": "0123456789abcdef", "trace_id": "a" * 32, "span_id": "b" * 16}
    assert _in_log_context(bound, task, "clip") == "clip"
    structlog.get_logger("x").info("after the task")
    fitted, after = _lines(out)
    assert {key: fitted[key] for key in bound} == bound
    assert not set(bound) & set(after)


def test_a_traceparent_kept_with_a_job_is_the_parent_of_its_run(tracer):
    assert current_trace_parent() == "" and trace_fields() == {}
    with tracer.start_as_current_span("CreateTrainingJob") as call:
        kept = current_trace_parent()
    job = Job.restore(
        [], lambda logged: None, id="j", settings=None, input_json={}, base_model="m", owner="alice", base_version="2.3"
    )
    job.catch_up([LoggedEvent(1, job.create_time, StateChanged(JobState.QUEUED, "waiting", trace_parent=kept))])
    assert job.trace_parent == kept
    with tracer.start_as_current_span("run", context=context_of(job.trace_parent)) as run:
        assert trace_fields()["trace_id"] == f"{call.get_span_context().trace_id:032x}"
    assert run.parent is not None and run.parent.span_id == call.get_span_context().span_id
    assert context_of("") == context_of("not a traceparent")  # no parent: the run starts a trace of its own


def test_a_job_run_names_its_job_on_every_line_and_is_a_span_when_traced(tracer):
    seen: list[dict] = []

    class Runner:
        def run(self, job: Job) -> None:
            seen.append({**structlog.contextvars.get_contextvars(), **trace_fields()})

    job = Job(id="0123456789abcdef", settings=None, input_json={}, base_model="m", owner="alice", base_version="2.3")
    TracedRunner(Runner()).run(job)
    TracedRunner(Runner(), tracer).run(job)
    untraced, traced = seen
    assert untraced == {"job_id": job.id}
    assert traced["job_id"] == job.id and len(traced["trace_id"]) == 32
    assert structlog.contextvars.get_contextvars() == {}  # unbound once the run ends


def test_a_generator_driven_in_a_thread_sees_the_callers_context(tracer):
    def names() -> Generator[dict, None, None]:
        yield {**structlog.contextvars.get_contextvars(), **trace_fields()}

    async def consume() -> list[dict]:
        structlog.contextvars.bind_contextvars(job_id="0123456789abcdef")
        with tracer.start_as_current_span("Preprocess"):
            return [item async for item in iterate_in_thread(names())]

    [seen] = asyncio.run(consume())
    assert seen["job_id"] == "0123456789abcdef" and len(seen["trace_id"]) == 32


def test_without_an_endpoint_nothing_is_set_up():
    config = TrainServiceConfig(storage="/nonexistent", preprocess={"target": "127.0.0.1:1"})
    assert config.tracing.otlp_endpoint is None
    tracing = start_tracing(config.tracing)
    assert tracing.provider is None and tracing.tracer is None
    tracing.shutdown()  # nothing to stop
    assert not any(isinstance(i, TracingServerInterceptor) for i in server_interceptors(AuthSettings()))
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)  # the global one stays the no-op proxy


def test_with_an_endpoint_the_service_has_a_provider_of_its_own():
    exporter = InMemorySpanExporter()
    settings = TracingSettings(otlp_endpoint="http://127.0.0.1:4317", service_name="svc", exporter=lambda: exporter)
    tracing = start_tracing(settings)
    assert tracing.tracer is not None
    try:
        interceptors = server_interceptors(AuthSettings(), tracer=tracing.tracer)
        assert isinstance(interceptors[0], TracingServerInterceptor)
        with tracing.tracer.start_as_current_span("a call"):
            pass
    finally:
        tracing.shutdown()
    [span] = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "svc"
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
