"""WorkerControlService: the stream through which rank 0 of a job's workers reports to this service.

Served on its own port (--worker-control-host and --worker-control-port; TLS with its own certificate
when set), never beside the public API: clients have no business here, and the workers authenticate by
their attempt's token
(train_svc.distributed.attempts), not by a principal's. The first message names the job and attempt;
then each event is checked (a known event type, one a worker may send) and recorded on the job, so
watchers see it as if the service had trained the job itself; the last message says how the training
ended. The service answers an admitted hello with ACCEPTED (workers train only after it), and sends
STOP whenever the job must stop (a cancel, the service shutting down); a stream whose attempt the
service gave up on is ended with ABORTED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import structlog

from shared.api import worker_control_pb2 as wc
from shared.api import worker_control_pb2_grpc as wc_grpc
from shared.api.error_info import error_info
from shared.request.errors import DomainError, ErrorCode
from train_svc.distributed.attempts import Attempt, AttemptRefused, Attempts, WorkerOutcome
from train_svc.jobs.event_codec import UnknownEvent, decode_event
from train_svc.jobs.events import CheckpointWritten, DatasetWarning, JobError, StepCompleted, ValidationPreview

log = structlog.get_logger(__name__)

SERVICE_NAME = "ltx.trainer.v1.WorkerControlService"
WORKER_EVENTS = (StepCompleted, CheckpointWritten, ValidationPreview, DatasetWarning)
HELLO_TIMEOUT_S = 30.0
_STOP_POLL_S = 0.2


def _refused(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, "WORKER_NOT_ADMITTED", message)


def _bad_stream(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_ARGUMENT, "BAD_WORKER_STREAM", message)


class WorkerControlServicer(wc_grpc.WorkerControlServiceServicer):
    def __init__(self, attempts: Attempts):
        self._attempts = attempts

    async def ConnectWorker(  # an async generator, as grpc.aio allows
        self, request_iterator: AsyncIterator[wc.ConnectWorkerRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[wc.ConnectWorkerResponse]:
        metadata = context.invocation_metadata() or ()
        tokens = [v for k, v in metadata if k == "authorization" and isinstance(v, str)]
        scheme, _, token = (tokens[0] if len(tokens) == 1 else "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _refused("send the attempt's token as 'authorization: Bearer <token>'")
        try:
            first = await asyncio.wait_for(anext(request_iterator), HELLO_TIMEOUT_S)
        except (TimeoutError, StopAsyncIteration) as exc:
            raise _bad_stream("the stream must open with a hello") from exc
        if first.WhichOneof("message") != "hello":
            raise _bad_stream("the stream must open with a hello")
        try:
            hello = first.hello
            attempt = self._attempts.claim(hello.job_id, hello.attempt, token.strip(), hello.world_size)
        except AttemptRefused as exc:
            raise _refused(str(exc)) from exc
        log.info("worker connected", job=attempt.job.id, attempt=attempt.number, world_size=hello.world_size)
        reader = asyncio.ensure_future(self._follow(attempt, request_iterator))
        try:
            yield wc.ConnectWorkerResponse(command=wc.WORKER_COMMAND_ACCEPTED)
            stop_sent = False
            while not reader.done():
                if attempt.closed.is_set():
                    raise DomainError(ErrorCode.ABORTED, "ATTEMPT_OVER", "the service has given up on this attempt")
                if not stop_sent and attempt.job.should_stop:
                    yield wc.ConnectWorkerResponse(command=wc.WORKER_COMMAND_STOP)
                    stop_sent = True
                await asyncio.wait({reader}, timeout=_STOP_POLL_S)
            reader.result()
        finally:
            reader.cancel()
            attempt.ended.set()

    async def _follow(self, attempt: Attempt, requests: AsyncIterator[wc.ConnectWorkerRequest]) -> None:
        async for request in requests:
            kind = request.WhichOneof("message")
            if kind == "event":
                await asyncio.to_thread(attempt.job.record, self._event(request.event))
            elif kind == "finished":
                attempt.outcome = _outcome(request.finished)
                return
            else:
                raise _bad_stream(f"a {kind} after the hello")
        raise _bad_stream("the stream ended without saying how the training finished")

    @staticmethod
    def _event(message: wc.WorkerEvent):
        try:
            event = decode_event(message.kind, message.json)
        except (UnknownEvent, ValueError, TypeError, KeyError) as exc:
            raise _bad_stream(f"event {message.kind[:64]!r} cannot be read: {exc}") from exc
        if not isinstance(event, WORKER_EVENTS):
            raise _bad_stream(f"workers do not send {message.kind} events")
        return event


def _outcome(finished: wc.WorkerFinished) -> WorkerOutcome:
    if not finished.HasField("error"):
        return WorkerOutcome(finished.steps)
    status = finished.error
    try:
        code = ErrorCode(status.code).name
    except ValueError:  # OK (0) or a number no status has
        code = ErrorCode.INTERNAL.name
    info = error_info(status)
    return WorkerOutcome(finished.steps, JobError(code, info.reason if info else "INTERNAL_ERROR", status.message))
