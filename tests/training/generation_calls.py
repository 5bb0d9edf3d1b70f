"""Calling a GenerationService in-process, as the tests of generation do: its bases, its job lookup, a whole
generation, the frames it wrote, and the log lines it wrote among everything captured in the process."""

from __future__ import annotations

import asyncio

import av
import numpy as np

from shared.auth import Caller
from train_svc.generation.order import GenerationOrder
from train_svc.generation.service import GenerationFinished, GenerationService
from train_svc.jobs.manager import JobNotFound
from train_svc.models.base_model import BaseModel
from train_svc.models.base_registry import BaseModels


def only(base: BaseModel) -> BaseModels:
    """A service hosting `base` alone, as its default."""
    return BaseModels({"default": base}, "default")


def no_jobs(name: str, caller: Caller):
    raise JobNotFound(name)


def finished_generation(service: GenerationService, order: GenerationOrder) -> GenerationFinished:
    """Run `order` for alice to its end; its last event, which must be the result."""

    async def collect() -> list:
        return [event async for event in service.generate(order, Caller("alice"))]

    finished = asyncio.run(collect())[-1]
    assert isinstance(finished, GenerationFinished)
    return finished


def frames(finished: GenerationFinished) -> np.ndarray:
    """The frames of the video a generation wrote, decoded (uint8 [F, H, W, 3])."""
    with av.open(str(finished.video.path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def own_lines(logs: list[dict], service: GenerationService) -> list[dict]:
    """`service`'s lines, and the unbound ones (pipeline loads): a session-wide test stack's idle timer may
    release that stack's own pipeline while a test captures logs."""
    return [entry for entry in logs if entry.get("generations") in (None, str(service.store.root))]
