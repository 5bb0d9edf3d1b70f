"""Following a training job to its end across lost streams and service restarts.

WatchTrainingJob numbers every event of a job (1, 2, ... without gaps) and the service keeps that log
across restarts, so a watcher that loses its stream reconnects with after_sequence = the last sequence
it saw and gets every event exactly once, in order. JobWatcher does that: it yields each logged event
once, drops anything the server sends twice, treats a gap as an error, keeps heartbeats (sequence 0,
not part of the log) out of the event stream, and reconnects with backoff while the service is away
(UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED/WATCHER_TOO_SLOW, or a stream that went silent)
until `reconnect_budget_s` of continuous failure has passed.

call_with_retry does the same for unary calls that are safe to repeat (CreateTrainingJob with the same
request_id, GetTrainingJob) and for downloads.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.errors import error_details

T = TypeVar("T")
Note = Callable[[str], None]

DEFAULT_RECONNECT_BUDGET_S = 15 * 60.0
DEFAULT_IDLE_TIMEOUT_S = 60.0  # the service sends a heartbeat every few seconds on an idle stream
WATCHER_TOO_SLOW = "WATCHER_TOO_SLOW"
_TERMINAL = frozenset(
    {pb.TrainingJob.State.STATE_SUCCEEDED, pb.TrainingJob.State.STATE_FAILED, pb.TrainingJob.State.STATE_CANCELLED}
)
_ALWAYS_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


# grpc channels reconnect by themselves, but by default back off up to 120 s between attempts: a service
# back after a restart would go unnoticed for minutes. Channels that follow a job use these instead.
# (grpc.min_reconnect_backoff_ms is left alone: gRPC core also uses it as the minimum connect timeout.)
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
)


class WatchError(Exception):
    """Following the job failed for good; the message says why."""


class ReconnectBudgetExhausted(WatchError):
    """The service stayed unreachable for longer than the reconnect budget."""


class EventGapError(WatchError):
    """The service skipped events of the job's log: the watcher cannot show the job faithfully."""


def _stderr_note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def is_retryable(err: grpc.RpcError) -> bool:
    """True for failures that mean "the service is away or cut us off; try again": UNAVAILABLE,
    DEADLINE_EXCEEDED, and RESOURCE_EXHAUSTED with reason WATCHER_TOO_SLOW."""
    code = err.code()
    if code in _ALWAYS_RETRYABLE:
        return True
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        _, info = error_details(err)
        return info is not None and info.reason == WATCHER_TOO_SLOW
    return False


def short_error(err: grpc.RpcError) -> str:
    """ "CODE: first line of the details" for a note."""
    details = (err.details() or "").strip().splitlines()
    return f"{err.code().name}: {details[0] if details else 'no details'}"


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class Backoff:
    """Delays of `initial_s` doubling up to `max_s`, and the clock of continuous failure against `budget_s`.

    `failed()` starts the clock on the first failure; `succeeded()` stops it and resets the delay.
    """

    def __init__(self, budget_s: float, initial_s: float = 0.5, max_s: float = 5.0):
        self.budget_s, self.initial_s, self.max_s = budget_s, initial_s, max_s
        self._delay = initial_s
        self._failing_since: float | None = None

    @property
    def failing_for_s(self) -> float:
        return 0.0 if self._failing_since is None else time.monotonic() - self._failing_since

    def succeeded(self) -> None:
        self._failing_since = None
        self._delay = self.initial_s

    def failed(self) -> bool:
        """Record a failure; False when the budget is spent (do not retry)."""
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        return self.failing_for_s < self.budget_s

    async def sleep(self) -> None:
        """Wait the current delay (never past the end of the budget), then double it."""
        remaining = self.budget_s - self.failing_for_s
        await asyncio.sleep(max(0.0, min(self._delay, remaining)))
        self._delay = min(self._delay * 2, self.max_s)


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    budget_s: float = DEFAULT_RECONNECT_BUDGET_S,
    note: Note = _stderr_note,
    initial_backoff_s: float = 0.5,
    max_backoff_s: float = 5.0,
    retry_if: Callable[[BaseException], bool] | None = None,
) -> T:
    """`await call()`, repeated with backoff while it fails with a retryable error (see is_retryable, or
    `retry_if`) for up to `budget_s` of continuous failure; then the last error is raised.

    Only for calls that are safe to repeat (idempotent). `what` names the call in the notes.
    """
    should_retry = retry_if or (lambda exc: isinstance(exc, grpc.RpcError) and is_retryable(exc))
    backoff = Backoff(budget_s, initial_backoff_s, max_backoff_s)
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await call()
        except Exception as exc:
            if not should_retry(exc) or not backoff.failed():
                raise
            detail = short_error(exc) if isinstance(exc, grpc.RpcError) else str(exc)
            if attempt == 1:
                note(
                    f"{what}: the training service is not answering ({detail}); retrying for up to "
                    f"{_duration(budget_s)}"
                )
            await backoff.sleep()
            continue
        if attempt > 1:
            note(f"{what}: the training service answered after {attempt} attempts")
        return result


class JobWatcher:
    """Yields the events of one job, each once and in order, until the job is final.

    `last_sequence` is the sequence of the last event yielded (start after `after_sequence`);
    `reconnects` counts the streams opened after the first. Heartbeats go to `on_heartbeat`, never into
    the events, and do not move the sequence. Notes about lost and regained streams go to `note`.
    """

    def __init__(
        self,
        stub: pb_grpc.TrainingServiceAsyncStub,
        name: str,
        *,
        after_sequence: int = 0,
        reconnect_budget_s: float = DEFAULT_RECONNECT_BUDGET_S,
        idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 5.0,
        note: Note = _stderr_note,
        on_heartbeat: Callable[[pb.WatchTrainingJobResponse], None] | None = None,
    ):
        self.stub, self.name = stub, name
        self.last_sequence = after_sequence
        self.reconnects = 0
        self.final_state: int | None = None
        self.reconnect_budget_s = reconnect_budget_s
        self.idle_timeout_s = idle_timeout_s
        self.initial_backoff_s, self.max_backoff_s = initial_backoff_s, max_backoff_s
        self.note = note
        self.on_heartbeat = on_heartbeat

    def __aiter__(self) -> AsyncIterator[pb.WatchTrainingJobResponse]:
        return self.events()

    async def events(self) -> AsyncIterator[pb.WatchTrainingJobResponse]:
        backoff = Backoff(self.reconnect_budget_s, self.initial_backoff_s, self.max_backoff_s)
        lost = False  # a stream broke and no message has arrived on a new one yet
        while True:
            call = self.stub.WatchTrainingJob(
                pb.WatchTrainingJobRequest(name=self.name, after_sequence=self.last_sequence)
            )
            reason: str
            try:
                while True:
                    message = await self._read(call)
                    if message is None:
                        break
                    backoff.succeeded()
                    if lost:
                        lost = False
                        self.note(f"reconnected to the training service; resuming after event {self.last_sequence}")
                    event = self._accept(message)
                    if event is not None:
                        yield event
            except grpc.aio.AioRpcError as err:
                if not is_retryable(err):
                    raise
                reason = short_error(err)
                if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    reason = f"cut off as too slow, {reason}"
            except TimeoutError:
                reason = f"no message for {_duration(self.idle_timeout_s or 0)}"
            else:
                if lost:
                    lost = False
                    self.note(f"reconnected to the training service; nothing after event {self.last_sequence}")
                if await self._job_is_final():
                    return
                reason = "the stream ended before the job did"
            finally:
                call.cancel()  # no-op when the call is over; frees it when the consumer stopped early
            if not backoff.failed():
                raise ReconnectBudgetExhausted(
                    f"lost the training service following {self.name} and could not get it back within "
                    f"{_duration(self.reconnect_budget_s)} ({reason}); the last event seen was "
                    f"{self.last_sequence}. The job may still be running: watch it again later."
                )
            if not lost:
                self.note(f"lost the training service ({reason}); reconnecting from event {self.last_sequence}")
            lost = True
            await backoff.sleep()
            self.reconnects += 1

    async def _read(self, call: grpc.aio.UnaryStreamCall) -> pb.WatchTrainingJobResponse | None:
        """The next message; None at the end of the stream; TimeoutError when silent for idle_timeout_s."""
        read = call.read()
        message = await (read if self.idle_timeout_s is None else asyncio.wait_for(read, self.idle_timeout_s))
        return message if isinstance(message, pb.WatchTrainingJobResponse) else None

    def _accept(self, event: pb.WatchTrainingJobResponse) -> pb.WatchTrainingJobResponse | None:
        """The event if it is the next one of the log; None for heartbeats and repeats; raises on a gap."""
        if event.WhichOneof("event") == "heartbeat":  # proof of life only; not part of the log
            if self.on_heartbeat is not None:
                self.on_heartbeat(event)
            return None
        if event.sequence <= 0:
            raise WatchError(
                f"the training service sent an event of {self.name} without a sequence number "
                f"({event.WhichOneof('event')}): it cannot be followed across reconnects"
            )
        if event.sequence <= self.last_sequence:
            return None  # already seen (a replay overlapping what we have)
        if event.sequence != self.last_sequence + 1:
            raise EventGapError(
                f"events {self.last_sequence + 1}..{event.sequence - 1} of {self.name} are missing: the training "
                f"service sent {event.sequence} after {self.last_sequence}"
            )
        self.last_sequence = event.sequence
        if event.WhichOneof("event") == "state_change" and event.state_change.state in _TERMINAL:
            self.final_state = event.state_change.state
        return event

    async def _job_is_final(self) -> bool:
        """After a stream that ended normally: the job is final (as the API promises) unless its state says
        otherwise. Checked only when no final state change came through."""
        if self.final_state is not None:
            return True
        try:
            job = await call_with_retry(
                lambda: self.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=self.name)),
                what=f"checking {self.name}",
                budget_s=self.reconnect_budget_s,
                note=self.note,
                initial_backoff_s=self.initial_backoff_s,
                max_backoff_s=self.max_backoff_s,
            )
        except grpc.aio.AioRpcError:
            return True  # cannot tell; trust the stream's end
        return job.state in _TERMINAL
