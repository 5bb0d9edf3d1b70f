"""A job's run as its log lines and its trace see it: every line names the job, and the run is a span.

The span continues the trace of the CreateTrainingJob call that made the job (its traceparent, kept on the
job's first event), whenever and on whichever replica the job runs: the call to the preprocessor, made
inside it, is its child, and so is the preprocessor's side of that call.
"""

from __future__ import annotations

import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from shared.tracing.context import context_of
from train_svc.jobs.events import JobState
from train_svc.jobs.job import Job
from train_svc.jobs.manager import Runner

SPAN_NAME = "TrainingJob run"


class TracedRunner:
    """A Runner whose jobs log with their `job_id` bound and, with a tracer, run inside a span."""

    def __init__(self, runner: Runner, tracer: Tracer | None = None):
        self._runner = runner
        self._tracer = tracer

    def run(self, job: Job) -> None:
        with structlog.contextvars.bound_contextvars(job_id=job.id):
            if self._tracer is None:
                self._runner.run(job)
                return
            with self._tracer.start_as_current_span(
                SPAN_NAME,
                context=context_of(job.trace_parent),
                kind=SpanKind.INTERNAL,
                attributes={"ltx.job.id": job.id, "ltx.job.resuming": job.resuming},
            ) as span:
                self._runner.run(job)
                span.set_attribute("ltx.job.state", job.state.value)
                if job.state is JobState.FAILED and job.error is not None:
                    span.set_status(Status(StatusCode.ERROR, f"{job.error.reason}: {job.error.message}"))
