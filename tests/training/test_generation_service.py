"""GenerationService without gRPC: it shares the accelerator with training jobs through AcceleratorSlots."""

from __future__ import annotations

import asyncio

import pytest

from shared.auth import Caller
from tests.training.generation_calls import no_jobs, only
from train_svc.accelerator import AcceleratorSlots, WaitAbandoned
from train_svc.generation.order import GenerationOrder
from train_svc.generation.request import GenerationRequest
from train_svc.generation.service import GenerationFinished, GenerationProgress, GenerationService


def test_a_waiter_gives_up_when_told_and_a_freed_slot_is_taken():
    slots = AcceleratorSlots(1)
    with slots.hold(), pytest.raises(WaitAbandoned), slots.hold(give_up=lambda: True):
        pass
    with slots.hold():  # the abandoned wait took nothing
        pass


def test_a_generation_waits_while_a_training_job_holds_the_accelerator(tiny_model, placement, tmp_path):
    slots = AcceleratorSlots(1)
    service = GenerationService(tmp_path, only(tiny_model), placement, slots, no_jobs)
    order = GenerationOrder(GenerationRequest(prompt="a red ball", num_frames=9, width=64, height=64, steps=2))

    async def scenario() -> list:
        stream = service.generate(order, Caller("alice"))
        with slots.hold():  # what JobManager does for the whole of a training job
            events = [await anext(stream)]
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.5)
            assert not waiting.done()  # nothing happens on the accelerator until the job lets go
        events.append(await waiting)
        return events + [event async for event in stream]

    try:
        events = asyncio.run(scenario())
    finally:
        service.shutdown()
    stages = [e.stage for e in events if isinstance(e, GenerationProgress)]
    assert stages == ["queued", "loading", "sampling", "sampling", "encoding"]
    finished = events[-1]
    assert isinstance(finished, GenerationFinished)
    assert finished.video.path == service.store.video_path("alice", finished.name.removeprefix("generations/"))
    assert service.store.find_video(finished.name, Caller("alice")) == finished.video.path
    assert service.store.find_video(finished.name, Caller("bob")) is None  # another principal's is not there
    assert service.store.find_video(finished.name, Caller("ops", admin=True)) == finished.video.path
