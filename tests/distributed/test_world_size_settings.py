"""--world-size: a number or auto, and a world above 1 only with one job on the accelerator at a time."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from train_svc.distributed.settings import DistributedSettings
from train_svc.distributed.workers import WorkersConfigError, start_workers
from train_svc.models.device import PlacementSettings


@pytest.mark.parametrize("value", ["0", "-2", "two", "1025", ""])
def test_a_world_size_is_a_whole_number_or_auto(value: str) -> None:
    with pytest.raises(ValidationError, match="whole number from 1 to 1024, or auto"):
        DistributedSettings(world_size=value)


def test_auto_on_a_machine_without_gpus_is_one_rank_in_process() -> None:
    settings = DistributedSettings(world_size="auto")
    assert settings.ranks("cpu") == 1
    assert asyncio.run(start_workers(settings, PlacementSettings(device="cpu"), concurrent_jobs=3)) is None


def test_several_ranks_need_the_whole_accelerator_for_one_job() -> None:
    settings = DistributedSettings(world_size="2")
    with pytest.raises(WorkersConfigError, match="--concurrent-jobs must be 1 \\(got 2\\)"):
        asyncio.run(start_workers(settings, PlacementSettings(device="cpu"), concurrent_jobs=2))
