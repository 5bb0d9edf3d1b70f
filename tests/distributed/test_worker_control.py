"""The control stream of a job's workers, over real gRPC on loopback: only the attempt's own token and
world size get in (and only then do workers train), a stale attempt is refused, only worker events
reach the job, STOP reaches rank 0, an attempt the service gave up on ends its stream, and the port
serves TLS that the workers verify."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from shared.api import worker_control_pb2 as wc
from shared.api import worker_control_pb2_grpc as wc_grpc
from shared.auth import AuthSettings
from shared.grpc_util.server import start_server, stop_server
from tests.certificates import Authority
from tests.service_stack import LoopThread
from train_svc.distributed.attempts import Attempts
from train_svc.distributed.control_server import SERVICE_NAME, WorkerControlServicer
from train_svc.distributed.external_launch import ExternalLaunch
from train_svc.distributed.run_files import read_token
from train_svc.jobs.event_codec import encode_event
from train_svc.jobs.event_log import EventLog
from train_svc.jobs.events import JobError, JobState, StateChanged, StepCompleted
from train_svc.jobs.job import Job
from train_svc.worker.control_client import ControlRefused, ControlStream

STEP = StepCompleted(3, 10, 0.5, 1e-3, 0.1, 0.7, 0.5, 0.0)


@dataclasses.dataclass(frozen=True)
class Settings:
    number_of_steps: int = 10
    billable_units_on_success: int = 100


@contextlib.contextmanager
def _control_port(auth: AuthSettings | None = None) -> Iterator[tuple[Attempts, str]]:
    """A WorkerControlService on a free loopback port (TLS as `auth` says): its attempts, and its target."""
    host, attempts = LoopThread(), Attempts()
    running = host.call(
        start_server(
            [(wc_grpc.add_WorkerControlServiceServicer_to_server, WorkerControlServicer(attempts))],
            [SERVICE_NAME],
            0,
            max_receive_bytes=1 << 20,
            auth=auth,
            servicer_authenticates=True,
        )
    )
    try:
        yield attempts, f"127.0.0.1:{running.port}"
    finally:
        host.call(stop_server(running, 0))
        host.close()


@pytest.fixture(scope="module")
def control() -> Iterator[tuple[Attempts, str]]:
    with _control_port() as port:
        yield port


def _job(job_id: str) -> tuple[Job, list]:
    """A job, and the events its log stores."""
    stored: list = []
    log = EventLog(persist=lambda logged: stored.append(logged.event))
    return Job(
        id=job_id, settings=Settings(), input_json={}, base_model="m", owner="alice", base_version="2.3", log=log
    ), stored


def _hello(job: Job, attempt: int = 1, world_size: int = 2) -> wc.WorkerHello:
    return wc.WorkerHello(job_id=job.id, attempt=attempt, world_size=world_size)


def _wait(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_rank_zero_reports_events_and_how_training_ended(control) -> None:
    attempts, target = control
    job, stored = _job("a1")
    attempt = attempts.open(job, 1, 2)
    stream = ControlStream(target, attempt.token, _hello(job))
    stream.wait_admitted(10)
    stream.record(STEP)
    stream.finish(3, JobError("ABORTED", "NON_FINITE_WEIGHTS", "step 3: the batch's loss is nan"))
    assert job.step == 3 and stored == [STEP]
    assert attempt.outcome is not None and attempt.outcome.steps == 3
    assert attempt.outcome.error == JobError("ABORTED", "NON_FINITE_WEIGHTS", "step 3: the batch's loss is nan")


def test_a_wrong_token_or_a_stale_attempt_is_refused_and_records_nothing(control) -> None:
    attempts, target = control
    job, stored = _job("a2")
    current = attempts.open(job, 2, 2)
    for token, number, world_size, reason in (
        ("not-the-token", 2, 2, "UNAUTHENTICATED: the token is not that of an open attempt of this job"),
        (current.token, 1, 2, "UNAUTHENTICATED: attempt 1 is over: the job is on attempt 2"),
        (current.token, 2, 3, "UNAUTHENTICATED: the job trains on 2 ranks; these workers are 3"),
    ):
        stream = ControlStream(target, token, _hello(job, number, world_size))
        with pytest.raises(ControlRefused) as refused:
            stream.wait_admitted(10)
        assert str(refused.value) == reason
        assert stream.stop_requested, "a refused stream stops the workers"
    assert stored == [] and current.outcome is None and not current.connected.is_set()


def test_a_worker_cannot_send_what_only_the_service_records(control) -> None:
    attempts, target = control
    job, stored = _job("a3")
    attempt = attempts.open(job, 1, 2)
    channel = grpc.insecure_channel(target)
    stub = wc_grpc.WorkerControlServiceStub(channel)
    kind, payload = encode_event(StateChanged(JobState.SUCCEEDED, "done"))
    requests = [
        wc.ConnectWorkerRequest(hello=wc.WorkerHello(job_id=job.id, attempt=1, world_size=2)),
        wc.ConnectWorkerRequest(event=wc.WorkerEvent(kind=kind, json=payload)),
    ]
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.ConnectWorker(iter(requests), metadata=(("authorization", f"Bearer {attempt.token}"),)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "workers do not send StateChanged events" in raised.value.details()
    assert stored == [] and job.state is JobState.QUEUED
    channel.close()


def test_a_stop_of_the_job_reaches_rank_zero(control) -> None:
    attempts, target = control
    job, _ = _job("a4")
    attempt = attempts.open(job, 1, 2)
    stream = ControlStream(target, attempt.token, _hello(job))
    stream.wait_admitted(10)
    assert attempt.connected.is_set() and not stream.stop_requested
    job.cancel_requested.set()
    assert _wait(lambda: stream.stop_requested)
    stream.finish(0)
    assert attempt.outcome is not None and attempt.outcome.error is None


def test_an_attempt_the_service_gave_up_on_ends_its_stream(control) -> None:
    attempts, target = control
    job, _ = _job("a6")
    attempt = attempts.open(job, 1, 2)
    stream = ControlStream(target, attempt.token, _hello(job))
    stream.wait_admitted(10)
    attempts.close(attempt)
    assert _wait(lambda: stream.stop_requested), "the workers stop: nobody hears them any more"
    assert _wait(attempt.ended.is_set)


def test_an_attempt_is_claimed_once_and_not_after_it_closed() -> None:
    attempts = Attempts()
    job, _ = _job("a5")
    attempt = attempts.open(job, 1, 2)
    assert attempts.claim(job.id, 1, attempt.token, 2) is attempt
    with pytest.raises(Exception, match="already has its control stream"):
        attempts.claim(job.id, 1, attempt.token, 2)
    attempts.close(attempt)
    with pytest.raises(Exception, match="not that of an open attempt"):
        attempts.claim(job.id, 1, attempt.token, 2)


def test_the_control_port_serves_tls_that_workers_verify(tmp_path) -> None:
    authority = Authority(tmp_path / "ca")
    server_pem = authority.issue("control", cn="train-workers", server=True)
    other = Authority(tmp_path / "other", name="other-ca")
    with _control_port(AuthSettings(tls_cert=server_pem.cert, tls_key=server_pem.key)) as (attempts, target):
        job, stored = _job("t1")
        attempt = attempts.open(job, 1, 2)
        for wrong in (None, grpc.ssl_channel_credentials(other.cert.read_bytes())):
            with pytest.raises(ControlRefused):
                ControlStream(target, attempt.token, _hello(job), wrong).wait_admitted(1)
        assert not attempt.connected.is_set()
        stream = ControlStream(
            target, attempt.token, _hello(job), grpc.ssl_channel_credentials(authority.cert.read_bytes())
        )
        stream.wait_admitted(10)
        stream.record(STEP)
        stream.finish(3)
        assert stored == [STEP] and attempt.outcome is not None and attempt.outcome.steps == 3


def test_an_external_attempt_waits_for_rank_zero_with_the_token_in_the_job_folder(control, tmp_path) -> None:
    attempts, target = control
    job, stored = _job("e1")
    (tmp_path / "run").mkdir()
    launch = ExternalLaunch(int(target.rsplit(":", 1)[1]), connect_seconds=30)
    attempt = attempts.open(job, 1, 2)

    def rank_zero() -> None:
        assert _wait(lambda: (tmp_path / "run" / "token").exists())
        stream = ControlStream(target, read_token(tmp_path), _hello(job))
        stream.wait_admitted(10)
        stream.record(STEP)
        stream.finish(3)

    worker = threading.Thread(target=rank_zero)
    worker.start()
    end = launch.run(job, tmp_path, attempt)
    worker.join()
    assert end.finished and attempt.outcome is not None and stored == [STEP]
    assert not (tmp_path / "run" / "token").exists()


def test_an_external_attempt_whose_workers_never_come_fails_in_time(control, tmp_path) -> None:
    attempts, target = control
    job, _ = _job("e2")
    (tmp_path / "run").mkdir()
    attempt = attempts.open(job, 1, 2)
    end = ExternalLaunch(int(target.rsplit(":", 1)[1]), connect_seconds=0.5).run(job, tmp_path, attempt)
    assert not end.finished and end.failure == "rank 0 did not connect within 0.5 s"
    assert not (tmp_path / "run" / "token").exists()
