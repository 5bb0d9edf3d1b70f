"""One trace from CreateTrainingJob through the preprocessor's stream, and both services' log lines carry it.

Both services run in this process (tests.service_stack) with tracing on: a loopback endpoint that is
never dialled, since each service's exporter is an in-memory one (TracingSettings.exporter), handed the
spans by the real wiring. The job is cancelled once training starts: the stream to the preprocessor has
ended by then.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from shared.logs import configure_logging
from shared.tracing.settings import TracingSettings
from tests.service_stack import service_stack

pytestmark = pytest.mark.integration

LOOPBACK_COLLECTOR = "http://127.0.0.1:4317"  # never dialled: the exporters are in memory
CREATE = "ltx.trainer.v1.TrainingService/CreateTrainingJob"
PREPROCESS = "ltx.trainer.v1.PreprocessService/Preprocess"


@pytest.fixture
def log_lines():
    """Every line either service logs in this process, as the JSON it is written as."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging(json=True, level="info", stream=out)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def _tracing(name: str, exporter: InMemorySpanExporter) -> TracingSettings:
    return TracingSettings(otlp_endpoint=LOOPBACK_COLLECTOR, service_name=name, exporter=lambda: exporter)


def _one(spans: tuple[ReadableSpan, ...], name: str, kind: SpanKind) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name and s.kind is kind]
    return span


def _run_until_training_then_cancel(stub, archive) -> pb.TrainingJob:
    job = stub.CreateTrainingJob(
        pb.CreateTrainingJobRequest(
            input=pb.TrainingInput(
                training_data_url=str(archive),
                rank=8,
                number_of_steps=100,
                number_of_frames=9,
                resolution=common_pb2.RESOLUTION_LOW,
            )
        )
    )
    for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name), timeout=120):
        if event.HasField("state_change") and event.state_change.state == pb.TrainingJob.State.STATE_TRAINING:
            stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
    return stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))


def test_one_trace_spans_both_services_and_their_log_lines(tmp_path, principals, log_lines):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 96))
    training_spans, preprocess_spans = InMemorySpanExporter(), InMemorySpanExporter()
    with service_stack(
        tmp_path / "storage",
        principals,
        allow_local_roots=(tmp_path,),
        preprocess_settings={"workers": 1, "tracing": _tracing("preprocess-test", preprocess_spans)},
        tracing=_tracing("train-test", training_spans),
    ) as stack:
        job = _run_until_training_then_cancel(stack.stub("alice"), archive)
    assert job.state == pb.TrainingJob.State.STATE_CANCELLED, job.error
    job_id = job.name.removeprefix("trainingJobs/")

    # Exported when the services stopped (their providers flush then).
    training, preprocessing = training_spans.get_finished_spans(), preprocess_spans.get_finished_spans()
    create = _one(training, CREATE, SpanKind.SERVER)
    run = _one(training, "TrainingJob run", SpanKind.INTERNAL)
    call = _one(training, PREPROCESS, SpanKind.CLIENT)
    served = _one(preprocessing, PREPROCESS, SpanKind.SERVER)
    trace_id = create.context.trace_id
    assert {span.context.trace_id for span in (create, run, call, served)} == {trace_id}
    assert run.parent.span_id == create.context.span_id and run.attributes["ltx.job.id"] == job_id
    assert call.parent.span_id == run.context.span_id and served.parent.span_id == call.context.span_id
    assert served.parent.is_remote and served.attributes["rpc.grpc.status_code"] == 0
    assert call.attributes["rpc.grpc.status_code"] == 0 and call.status.is_ok
    assert served.resource.attributes["service.name"] == "preprocess-test"
    assert create.resource.attributes["service.name"] == "train-test"
    assert not [s for s in (*training, *preprocessing) if s.name.startswith("grpc.health")]

    everything = log_lines()
    lines = [line for line in everything if line.get("trace_id") == f"{trace_id:032x}"]
    services = {line["logger"].split(".")[0] for line in lines}
    assert {"train_svc", "preprocess_svc"} <= services, services
    assert all(line["job_id"] == job_id for line in lines if line["logger"].startswith("preprocess_svc"))
    assert any(line["event"] == "preprocess_started" for line in lines)
    [cancelled] = [line for line in everything if line["event"] == "cancel requested"]
    assert cancelled["job_id"] == job_id and cancelled["trace_id"] != f"{trace_id:032x}"  # a call of its own
