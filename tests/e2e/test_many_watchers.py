"""Two hundred watchers on one running job, some dropping their stream and resuming from their last
sequence: every one of them receives every event exactly once, in order."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from shared.grpc_util.channels import aio_channel

pytestmark = pytest.mark.integration

WATCHERS = 200


async def _watch(stub, name: str, drop_after: int | None) -> list[bytes]:
    """Follow the job to its end; with drop_after, cancel the stream after that many events each time and
    resume from the last sequence received."""
    received: list[bytes] = []
    last = 0
    while True:
        call = stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name, after_sequence=last))
        count = 0
        async for event in call:
            if event.HasField("heartbeat"):
                continue
            received.append(event.SerializeToString())
            last = event.sequence
            count += 1
            if drop_after is not None and count == drop_after:
                call.cancel()
                break
        else:
            return received


async def _watch_all(target: str, name: str, credentials) -> list[list[bytes]]:
    channels = [aio_channel(target, credentials) for _ in range(4)]
    try:
        stubs = [pb_grpc.TrainingServiceStub(c) for c in channels]
        drops = [(i % 23) + 1 if i % 3 == 0 else None for i in range(WATCHERS)]
        watchers = [_watch(stubs[i % len(stubs)], name, drop) for i, drop in enumerate(drops)]
        return await asyncio.gather(*watchers)
    finally:
        for channel in channels:
            await channel.close()


def test_two_hundred_watchers_each_get_every_event_once_in_order(services, tmp_path):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(96, 160))
    job = services.create(
        training_data_url=str(archive),
        rank=8,
        number_of_steps=100,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
        aspect_ratio=common_pb2.ASPECT_RATIO_9_16,
    )
    seen = asyncio.run(_watch_all(services.training_target, job.name, services.principals.credentials("alice")))
    reference = [e.SerializeToString() for e in services.events(job.name)]
    sequences = [pb.WatchTrainingJobResponse.FromString(e).sequence for e in reference]
    assert sequences == list(range(1, len(reference) + 1)) and len(reference) > 100
    assert all(watched == reference for watched in seen)


def test_watching_from_past_the_end_of_the_log_is_out_of_range(services, finished_job):
    from shared.grpc_util.errors import error_details

    last = len(services.events(finished_job.name))
    assert len(services.events(finished_job.name, after=last)) == 0
    try:
        services.events(finished_job.name, after=last + 1)
        raise AssertionError("a watch from past the end of the log was accepted")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.OUT_OF_RANGE
        assert error_details(err)[1].reason == "AFTER_SEQUENCE_AHEAD"
