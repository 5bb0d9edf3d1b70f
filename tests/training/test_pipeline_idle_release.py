"""--pipeline-idle-seconds: the generation pipeline is kept between generations, dropped once idle that long,
and loaded again by the next generation, which gives the same video.

"The same" up to a small difference whose cause is not found yet: the video made after a reload is not always
bit-identical to the first (the encoder is deterministic for identical frames: tests/training/test_generation.py),
so the decoded frames are compared by PSNR: such differences stay above 35 dB, another seed gives about 17 dB.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from structlog.testing import capture_logs

from shared.auth import Caller
from tests.training.generation_calls import finished_generation, frames, no_jobs, only, own_lines
from train_svc.accelerator import AcceleratorSlots
from train_svc.generation.order import GenerationOrder
from train_svc.generation.request import GenerationRequest
from train_svc.generation.service import GenerationFinished, GenerationService

IDLE_SECONDS = 1.0
MIN_PSNR_DB = 30.0  # see the module's docstring


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_the_pipeline_is_released_when_idle_and_loaded_again_for_the_same_video(tiny_model, placement, tmp_path):
    service = GenerationService(
        tmp_path, only(tiny_model), placement, AcceleratorSlots(1), no_jobs, idle_seconds=IDLE_SECONDS
    )
    request = GenerationRequest(prompt="a red ball", num_frames=9, width=64, height=64, steps=2, seed=7)
    order = GenerationOrder(request)
    try:
        with capture_logs() as logs:
            first = finished_generation(service, order)
            loaded = service.pipeline_bytes()
            deadline = time.monotonic() + IDLE_SECONDS + 10
            while service.pipeline_bytes() and time.monotonic() < deadline:
                time.sleep(0.05)
            released = service.pipeline_bytes()
            second = finished_generation(service, order)
    finally:
        service.shutdown()
    events = [entry["event"] for entry in own_lines(logs, service)]
    assert loaded > 0 and released == 0  # kept after the generation, dropped once idle
    assert events.count("generation pipeline loaded") == 2 and events.count("generation pipeline released") == 1
    release = next(entry for entry in own_lines(logs, service) if entry["event"] == "generation pipeline released")
    assert release["parameter_bytes"] == loaded and release["idle_seconds"] >= IDLE_SECONDS - 0.1
    assert psnr(frames(first), frames(second)) > MIN_PSNR_DB


def test_with_no_idle_time_a_waiting_generation_keeps_the_pipeline_and_the_last_one_releases_it(
    tiny_model, placement, tmp_path
):
    slots = AcceleratorSlots(1)
    service = GenerationService(tmp_path, only(tiny_model), placement, slots, no_jobs, idle_seconds=0)
    order = GenerationOrder(GenerationRequest(prompt="a red ball", num_frames=9, width=64, height=64, steps=2))

    async def both() -> list:
        streams = [service.generate(order, Caller("alice")) for _ in range(2)]
        with slots.hold():  # a training job has the accelerator: both generations queue for the pipeline
            for stream in streams:
                await anext(stream)
            await asyncio.sleep(0.3)
        return await asyncio.gather(*[collect(stream) for stream in streams])

    async def collect(stream) -> list:
        return [event async for event in stream]

    try:
        with capture_logs() as logs:
            results = asyncio.run(both())
            deadline = time.monotonic() + 10
            while service.pipeline_bytes() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        service.shutdown()
    assert all(isinstance(events[-1], GenerationFinished) for events in results)
    events = [entry["event"] for entry in own_lines(logs, service)]
    assert events.count("generation pipeline loaded") == 1  # the second did not lose it to the first's end
    assert events.count("generation pipeline released") == 1 and service.pipeline_bytes() == 0
