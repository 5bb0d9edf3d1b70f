"""A scripted TrainingService on a real grpc.aio server, for the CLI's reconnect tests: it serves a fixed
event log from after_sequence on, and each test scripts how it misbehaves (stops mid-stream, cuts the
watcher off, repeats or skips events, goes silent)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from train_svc.cli.watch import CHANNEL_OPTIONS, JobWatcher

JOB = "trainingJobs/test"
STATE = pb.TrainingJob.State
FAST = {"initial_backoff_s": 0.05, "max_backoff_s": 0.2}


def job_log(steps: int = 8) -> list[pb.WatchTrainingJobResponse]:
    """A job's log: TRAINING, `steps` steps, SUCCEEDED; sequences 1..steps+2."""
    events = [pb.WatchTrainingJobResponse(state_change=pb.StateChange(state=STATE.STATE_TRAINING, message="training"))]
    events += [
        pb.WatchTrainingJobResponse(step=pb.TrainingStep(step=i, total_steps=steps)) for i in range(1, steps + 1)
    ]
    events.append(pb.WatchTrainingJobResponse(state_change=pb.StateChange(state=STATE.STATE_SUCCEEDED, message="done")))
    for sequence, event in enumerate(events, 1):
        event.sequence = sequence
    return events


def heartbeat(last: int) -> pb.WatchTrainingJobResponse:
    return pb.WatchTrainingJobResponse(sequence=0, heartbeat=pb.Heartbeat(last_sequence=last))


class FakeTraining(pb_grpc.TrainingServiceServicer):
    """Serves `log` after the requested sequence. `script(call_index, after)` may return, per Watch call,
    a list of what to send: events, ("abort", grpc.Status), ("hang",), ("end",) - else the log is served."""

    def __init__(self, log: list[pb.WatchTrainingJobResponse], script: Callable | None = None, delay_s: float = 0.01):
        self.log, self.script, self.delay_s = log, script, delay_s
        self.watch_requests: list[int] = []
        self.create_requests: list[str] = []
        self.sent: dict[int, asyncio.Event] = {}
        self.job_state = STATE.STATE_TRAINING
        self.result = pb.TrainingResult()
        self.create_failures = 0

    def sent_event(self, sequence: int) -> asyncio.Event:
        return self.sent.setdefault(sequence, asyncio.Event())

    async def WatchTrainingJob(self, request, context):
        call = len(self.watch_requests)
        self.watch_requests.append(request.after_sequence)
        plan = self.script(call, request.after_sequence) if self.script else None
        if plan is None:
            plan = [e for e in self.log if e.sequence > request.after_sequence]
        for item in plan:
            if isinstance(item, tuple):
                if item[0] == "abort":
                    await context.abort_with_status(item[1])
                if item[0] == "hang":
                    await asyncio.Event().wait()
                if item[0] == "end":
                    return
                continue
            yield item
            if item.sequence:
                self.sent_event(item.sequence).set()
            await asyncio.sleep(self.delay_s)

    async def CreateTrainingJob(self, request, context):
        self.create_requests.append(request.request_id)
        if len(self.create_requests) <= self.create_failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "starting up")
        return pb.TrainingJob(name=JOB, state=STATE.STATE_QUEUED)

    async def GetTrainingJob(self, request, context):
        return pb.TrainingJob(name=JOB, state=self.job_state, result=self.result)


class Server:
    """A grpc.aio server for `servicer` that can be stopped and started again on the same port."""

    def __init__(self, servicer: FakeTraining, port: int = 0):
        self.servicer, self.port = servicer, port
        self.server: grpc.aio.Server | None = None

    async def start(self) -> Server:
        self.server = grpc.aio.server()
        pb_grpc.add_TrainingServiceServicer_to_server(self.servicer, self.server)
        self.port = self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        assert self.port
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.server.stop(0)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def run(coro, timeout: float = 10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def collect(watcher: JobWatcher) -> list[pb.WatchTrainingJobResponse]:
    return [event async for event in watcher]


async def watch_to_end(servicer: FakeTraining, **options) -> list[pb.WatchTrainingJobResponse]:
    """Serve `servicer`, follow JOB to its end with a JobWatcher (quiet, fast backoff unless `options`
    say otherwise), then stop the server."""
    server = await Server(servicer).start()
    try:
        async with grpc.aio.insecure_channel(server.target, options=CHANNEL_OPTIONS) as channel:
            watcher = JobWatcher(
                pb_grpc.TrainingServiceStub(channel), JOB, **{"note": lambda _: None, **FAST, **options}
            )
            return await collect(watcher)
    finally:
        await server.stop()
