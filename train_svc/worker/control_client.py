"""Rank 0's end of the control stream to the training service (WorkerControlService.ConnectWorker).

The service first answers ACCEPTED, or ends the stream with an error when it refuses the attempt: the
workers train only after ACCEPTED (`wait_admitted`), so workers of a stale attempt or of the wrong job
touch nothing. Events are queued (bounded, so a slow service slows training down rather than filling
memory) and sent by gRPC's own thread; a reader thread watches for STOP. If the stream breaks (the
service went away), the workers stop at the next step boundary with a checkpoint, as for a STOP: nobody
would hear them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import grpc
import structlog

from shared.api import worker_control_pb2 as wc
from shared.api import worker_control_pb2_grpc as wc_grpc
from train_svc.api.job_messages import error_status
from train_svc.distributed.attempts import MAX_MESSAGE_BYTES
from train_svc.jobs.event_codec import encode_event
from train_svc.jobs.events import JobError, JobEvent

log = structlog.get_logger(__name__)

_QUEUE = 256
_END = None
FINISH_TIMEOUT_S = 60.0


class ControlRefused(Exception):
    """The service did not admit this stream (or could not be reached in time)."""


class ControlStream:
    def __init__(
        self,
        target: str,
        token: str,
        hello: wc.WorkerHello,
        credentials: grpc.ChannelCredentials | None = None,
    ):
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(target, options=options)
        )
        self._outbox: queue.Queue[wc.ConnectWorkerRequest | None] = queue.Queue(_QUEUE)
        self._outbox.put(wc.ConnectWorkerRequest(hello=hello))
        self._stop = threading.Event()
        self._admitted = threading.Event()
        self._closed = threading.Event()
        self._refusal = ""
        stub = wc_grpc.WorkerControlServiceStub(self._channel)
        self._responses = stub.ConnectWorker(
            self._requests(), metadata=(("authorization", f"Bearer {token}"),), wait_for_ready=True
        )
        self._reader = threading.Thread(target=self._read, name="control-stream", daemon=True)
        self._reader.start()

    def _requests(self) -> Iterator[wc.ConnectWorkerRequest]:
        while (request := self._outbox.get()) is not _END:
            yield request

    def _read(self) -> None:
        try:
            for response in self._responses:
                if response.command == wc.WORKER_COMMAND_ACCEPTED:
                    self._admitted.set()
                elif response.command == wc.WORKER_COMMAND_STOP:
                    log.info("the service asks the workers to stop")
                    self._stop.set()
            self._refusal = "the service closed the stream"
        except grpc.RpcError as exc:
            self._refusal = f"{exc.code().name}: {exc.details()}"
            if self._admitted.is_set():
                log.warning("control stream lost; stopping at the next step", reason=self._refusal)
        finally:
            self._stop.set()  # once the stream is over, nobody hears the workers
            self._closed.set()

    def wait_admitted(self, timeout: float) -> None:
        """Return once the service has accepted the hello; raise ControlRefused when it refused, or did not
        answer within `timeout` s (the stream is then closed)."""
        give_up = time.monotonic() + timeout
        while not self._admitted.wait(0.1):
            if self._closed.is_set() or time.monotonic() > give_up:
                self._channel.close()
                raise ControlRefused(self._refusal or f"the service did not answer the hello within {timeout:g} s")

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def record(self, event: JobEvent) -> None:
        kind, payload = encode_event(event)
        self._put(wc.ConnectWorkerRequest(event=wc.WorkerEvent(kind=kind, json=payload)))

    def finish(self, steps: int, error: JobError | None = None) -> None:
        """Say how the training ended, close the stream and wait (bounded) for the service to take it all."""
        finished = wc.WorkerFinished(steps=steps)
        if error is not None:
            finished.error.CopyFrom(error_status(error))
        self._put(wc.ConnectWorkerRequest(finished=finished))
        self._put(_END)
        if not self._closed.wait(FINISH_TIMEOUT_S):
            log.warning("the service did not close the control stream in time")
        self._channel.close()

    def _put(self, item: wc.ConnectWorkerRequest | None) -> None:
        while not self._closed.is_set():
            try:
                self._outbox.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
