"""--world-size: a number or auto, and a world above 1 only with one job on the accelerator at a time;
--worker-launch external: a number of ranks, a fixed control port, and TLS on it beyond loopback."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from tests.e2e.processes import free_port
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


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"world_size": "auto", "control_port": 50072}, "needs --world-size as a number"),
        ({"world_size": "4"}, "needs a fixed --worker-control-port"),
        ({"world_size": "4", "control_port": 50072, "control_host": "0.0.0.0"}, "need TLS there"),
    ],
)
def test_an_external_launch_needs_its_ranks_a_port_and_tls_beyond_loopback(fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        DistributedSettings(launch="external", **fields)


def test_workers_launched_here_report_on_loopback_in_plain_text(tmp_path) -> None:
    pem = tmp_path / "cert.pem"
    pem.write_text("x")
    for fields in ({"control_host": "0.0.0.0"}, {"control_tls_cert": pem, "control_tls_key": pem}):
        with pytest.raises(ValidationError, match="need --worker-launch external"):
            DistributedSettings(world_size="2", **fields)
    with pytest.raises(ValidationError, match="go together"):
        DistributedSettings(launch="external", world_size="2", control_port=50072, control_tls_cert=pem)


def test_an_external_launch_of_one_rank_still_has_workers_on_the_fixed_port() -> None:
    port = free_port()
    settings = DistributedSettings(launch="external", world_size="1", control_port=port)

    async def start_and_stop() -> tuple[int, int]:
        workers = await start_workers(settings, PlacementSettings(device="cpu"), concurrent_jobs=2)
        assert workers is not None
        await workers.stop(0)
        return workers.control.port, workers.launcher.config.world_size

    assert asyncio.run(start_and_stop()) == (port, 1)
