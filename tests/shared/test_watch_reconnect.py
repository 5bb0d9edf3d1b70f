"""JobWatcher and submit_and_follow against a real grpc.aio server that goes away and comes back.

The server is tests.shared.scripted_service; each test scripts how it misbehaves.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import grpc
import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.errors import status_for
from tests.shared.scripted_service import (
    FAST,
    JOB,
    STATE,
    FakeTraining,
    Server,
    collect,
    heartbeat,
    job_log,
    run,
    watch_to_end,
)
from train_svc.cli.exit_codes import ExitCode
from train_svc.cli.progress import ProgressDisplay
from train_svc.cli.train_cmd import submit_and_follow
from train_svc.cli.watch import CHANNEL_OPTIONS, EventGapError, JobWatcher, ReconnectBudgetExhausted, call_with_retry


def test_a_restart_mid_stream_resumes_after_the_last_event_seen():
    log = job_log()

    async def scenario():
        servicer = FakeTraining(log, delay_s=0.05)
        server = await Server(servicer).start()
        notes: list[str] = []
        async with grpc.aio.insecure_channel(server.target, options=CHANNEL_OPTIONS) as channel:
            watcher = JobWatcher(pb_grpc.TrainingServiceStub(channel), JOB, note=notes.append, **FAST)
            task = asyncio.create_task(collect(watcher))
            await servicer.sent_event(4).wait()
            await server.stop()
            await asyncio.sleep(0.5)
            again = await Server(servicer, server.port).start()  # keep a reference: a dropped server stops
            events = await task
        await again.stop()
        return servicer, watcher, events, notes

    servicer, watcher, events, notes = run(scenario())
    assert [e.sequence for e in events] == list(range(1, len(log) + 1))
    assert events == log
    resumed_from = servicer.watch_requests[-1]
    assert servicer.watch_requests[0] == 0 and 4 <= resumed_from <= 5
    assert all(after == resumed_from for after in servicer.watch_requests[1:])  # failed attempts: same point
    assert watcher.last_sequence == len(log) and watcher.final_state == STATE.STATE_SUCCEEDED
    assert watcher.reconnects >= len(servicer.watch_requests) - 1 >= 1  # refused attempts never reach it
    assert notes[0].startswith("lost the training service (UNAVAILABLE")
    assert notes[0].endswith(f"reconnecting from event {resumed_from}")
    assert notes[-1] == f"reconnected to the training service; resuming after event {resumed_from}"
    assert len(notes) == 2


def test_heartbeats_are_not_events_and_do_not_move_the_sequence():
    log = job_log(3)

    def script(call, after):
        return [heartbeat(0), log[0], heartbeat(1), heartbeat(1), *log[1:3], ("abort", _unavailable())]

    servicer = FakeTraining(log, script=lambda call, after: script(call, after) if call == 0 else None)
    beats: list[pb.WatchTrainingJobResponse] = []
    events = run(watch_to_end(servicer, on_heartbeat=beats.append))
    assert events == log
    assert len(beats) == 3
    assert servicer.watch_requests == [0, 3]


def _unavailable() -> grpc.Status:
    return status_for(grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN", "the service is shutting down")


def test_a_watcher_cut_off_as_too_slow_resumes_from_its_last_event():
    log = job_log(6)
    too_slow = status_for(grpc.StatusCode.RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW", "the watcher fell behind")

    servicer = FakeTraining(log, script=lambda call, after: [*log[:3], ("abort", too_slow)] if call == 0 else None)
    notes: list[str] = []
    events = run(watch_to_end(servicer, note=notes.append))
    assert events == log
    assert servicer.watch_requests == [0, 3]
    assert "RESOURCE_EXHAUSTED" in notes[0] and "reconnecting from event 3" in notes[0]


def test_other_resource_exhausted_errors_are_not_retried():
    log = job_log(2)
    quota = status_for(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED", "no more jobs today")

    async def scenario():
        servicer = FakeTraining(log, script=lambda call, after: [log[0], ("abort", quota)])
        server = await Server(servicer).start()
        seen: list[pb.WatchTrainingJobResponse] = []
        async with grpc.aio.insecure_channel(server.target, options=CHANNEL_OPTIONS) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for event in JobWatcher(pb_grpc.TrainingServiceStub(channel), JOB, note=print, **FAST):
                    seen.append(event)
        await server.stop()
        return servicer, seen, caught.value

    servicer, seen, err = run(scenario())
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert seen == log[:1] and servicer.watch_requests == [0]


def test_repeated_events_from_the_server_are_dropped():
    log = job_log(5)

    def script(call, after):
        if call == 0:  # repeats within a stream, then breaks
            return [log[0], log[1], log[1], log[2], log[0], log[3], ("abort", _unavailable())]
        return log  # a server that ignores after_sequence: replays everything

    servicer = FakeTraining(log, script=script)
    events = run(watch_to_end(servicer))
    assert events == log
    assert servicer.watch_requests == [0, 4]


def test_a_gap_in_the_sequence_is_an_error():
    log = job_log(5)

    async def scenario():
        servicer = FakeTraining(log, script=lambda call, after: [log[0], log[1], log[3], log[4]])
        server = await Server(servicer).start()
        seen: list[int] = []
        async with grpc.aio.insecure_channel(server.target, options=CHANNEL_OPTIONS) as channel:
            with pytest.raises(EventGapError, match=r"events 3\.\.3 of trainingJobs/test are missing"):
                async for event in JobWatcher(pb_grpc.TrainingServiceStub(channel), JOB, **FAST):
                    seen.append(event.sequence)
        await server.stop()
        return seen

    assert run(scenario()) == [1, 2]


def test_a_stream_that_ends_before_the_job_is_final_is_resumed():
    log = job_log(4)

    servicer = FakeTraining(log, script=lambda call, after: [*log[:3], ("end",)] if call == 0 else None)
    events = run(watch_to_end(servicer))
    assert events == log and servicer.watch_requests == [0, 3]


def test_a_normal_end_means_the_job_is_final_even_without_a_final_state_change():
    log = job_log(2)[:-1]

    servicer = FakeTraining(log)
    servicer.job_state = STATE.STATE_CANCELLED
    events = run(watch_to_end(servicer))
    assert events == log and servicer.watch_requests == [0]


def test_a_silent_stream_is_abandoned_and_resumed():
    log = job_log(3)

    servicer = FakeTraining(log, script=lambda call, after: [log[0], ("hang",)] if call == 0 else None)
    notes: list[str] = []
    events = run(watch_to_end(servicer, idle_timeout_s=0.3, note=notes.append))
    assert events == log and servicer.watch_requests == [0, 1]
    assert notes[0] == "lost the training service (no message for 0.3 s); reconnecting from event 1"


def test_a_permanent_outage_ends_with_a_clear_error_after_the_budget():
    log = job_log(6)

    async def scenario():
        servicer = FakeTraining(log, delay_s=0.02)
        server = await Server(servicer).start()
        seen: list[int] = []
        notes: list[str] = []
        async with grpc.aio.insecure_channel(server.target, options=CHANNEL_OPTIONS) as channel:
            watcher = JobWatcher(
                pb_grpc.TrainingServiceStub(channel), JOB, reconnect_budget_s=1.0, note=notes.append, **FAST
            )

            async def follow():
                async for event in watcher:
                    seen.append(event.sequence)
                    if event.sequence == 2:
                        await server.stop()

            started = time.monotonic()
            with pytest.raises(ReconnectBudgetExhausted) as caught:
                await follow()
            elapsed = time.monotonic() - started
        return seen, notes, str(caught.value), elapsed, watcher

    seen, notes, message, elapsed, watcher = run(scenario())
    assert seen[:2] == [1, 2]
    last = seen[-1]
    assert f"the last event seen was {last}" in message and "within 1 s" in message
    assert "trainingJobs/test" in message
    assert 0.9 <= elapsed < 4
    assert len(notes) == 1  # one note for the outage, not one per attempt
    assert watcher.reconnects >= 3


def test_call_with_retry_gives_up_after_the_budget():
    attempts = 0

    async def call():
        nonlocal attempts
        attempts += 1
        async with grpc.aio.insecure_channel("127.0.0.1:1") as channel:
            return await pb_grpc.TrainingServiceStub(channel).GetTrainingJob(pb.GetTrainingJobRequest(name=JOB))

    async def scenario():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call_with_retry(call, what="reading", budget_s=0.5, note=lambda _: None, **FAST)
        return caught.value

    assert run(scenario()).code() == grpc.StatusCode.UNAVAILABLE
    assert attempts >= 3


def test_submit_and_follow_survives_a_late_start_a_refusal_and_a_restart(tmp_path):
    log = job_log(6)
    result_file = tmp_path / "storage" / "result.json"
    result_file.parent.mkdir()
    result_file.write_text(json.dumps({"billable_units": 6}))
    data = result_file.read_bytes()
    artifact = common_pb2.Artifact(
        uri=result_file.as_uri(), size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )

    async def scenario():
        servicer = FakeTraining(log, delay_s=0.05)
        servicer.create_failures = 1
        servicer.job_state = STATE.STATE_SUCCEEDED
        servicer.result = pb.TrainingResult(result_file=artifact)
        first = Server(servicer)
        await first.start()
        port = first.port
        await first.stop()  # the client starts while the service is down
        stream = _Stream()
        follow = asyncio.create_task(
            submit_and_follow(
                f"127.0.0.1:{port}",
                {"training_data_url": "/data/clips.zip"},
                tmp_path / "out",
                ProgressDisplay(stream),
                reconnect_budget_s=5,
            )
        )
        await asyncio.sleep(0.4)
        server = await Server(servicer, port).start()
        await servicer.sent_event(3).wait()
        await server.stop()
        await asyncio.sleep(0.3)
        again = await Server(servicer, port).start()
        code = await follow
        await again.stop()
        return servicer, code, stream.text()

    servicer, code, shown = run(scenario())
    assert code == ExitCode.OK
    assert len(servicer.create_requests) == 2 and len(set(servicer.create_requests)) == 1  # same request_id
    assert servicer.watch_requests[0] == 0 and servicer.watch_requests[-1] >= 3
    assert shown.count("step 6/6") == 1 and shown.count("[SUCCEEDED]") == 1
    assert "creating the job: the training service is not answering (UNAVAILABLE" in shown
    assert "lost the training service (UNAVAILABLE" in shown
    assert json.loads((tmp_path / "out" / "result.json").read_text()) == {"billable_units": 6}


class _Stream:
    def __init__(self):
        self.parts: list[str] = []

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self.parts)
