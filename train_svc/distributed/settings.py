"""How the service trains a job: alone in its process, or on N ranks it launches with torchrun."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, field_validator

from shared.settings import Setting, SettingsModel


class WorldSizeUnavailable(ValueError):
    """The world size asks for more GPUs than this machine has."""


class DistributedSettings(SettingsModel):
    world_size: Annotated[
        str,
        Setting(
            "--world-size",
            "LTX_WORLD_SIZE",
            "ranks per job (one per GPU): a number, or auto = the GPUs this machine sees; 1 trains in-process",
        ),
    ] = "1"
    control_host: Annotated[
        str,
        Setting(
            "--worker-control-host",
            "LTX_WORKER_CONTROL_HOST",
            "address of the port the training workers report to (loopback: workers on this machine)",
        ),
    ] = "127.0.0.1"
    max_attempts: Annotated[
        int,
        Setting(
            "--worker-attempts",
            "LTX_WORKER_ATTEMPTS",
            "launches of a job's workers before it fails WORKER_FAILED (each resumes from the last checkpoint)",
        ),
    ] = Field(4, ge=1, le=100)

    @field_validator("world_size")
    @classmethod
    def _number_or_auto(cls, value: str) -> str:
        if value != "auto" and not (value.isdigit() and 1 <= int(value) <= 1024):
            raise ValueError(f"must be a whole number from 1 to 1024, or auto (got {value!r})")
        return value

    def ranks(self, device: str) -> int:
        """The world size for jobs on `device` (the service's --device): auto counts the visible GPUs."""
        gpus = torch.cuda.device_count() if device in ("auto", "cuda") else 0
        if self.world_size == "auto":
            return max(gpus, 1)
        count = int(self.world_size)
        if gpus and count > gpus:
            raise WorldSizeUnavailable(f"--world-size {count} needs {count} GPUs; this machine sees {gpus}")
        return count
