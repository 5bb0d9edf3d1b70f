"""How the service trains a job: alone in its process, or on N ranks it launches with torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field, field_validator, model_validator

from shared.auth.settings import is_loopback_host
from shared.settings import Setting, SettingsModel


class WorldSizeUnavailable(ValueError):
    """The world size asks for more GPUs than this machine has."""


class DistributedSettings(SettingsModel):
    """`local`: the service launches each job's ranks on its own machine. `external`: someone else does (a
    Kubeflow TrainJob, torchrun on other nodes, Slurm); the service writes the job's run files and waits
    for rank 0 on its control port, which then must be fixed, and served with TLS beyond loopback."""

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
    control_port: Annotated[
        int,
        Setting(
            "--worker-control-port",
            "LTX_WORKER_CONTROL_PORT",
            "the control port (0: any free one; an external launch needs a fixed one)",
        ),
    ] = Field(0, ge=0, le=65535)
    control_tls_cert: Annotated[
        Path | None,
        Setting("--worker-control-tls-cert", "LTX_WORKER_CONTROL_TLS_CERT", "the control port's certificate (PEM)"),
    ] = None
    control_tls_key: Annotated[
        Path | None,
        Setting("--worker-control-tls-key", "LTX_WORKER_CONTROL_TLS_KEY", "the control port's private key (PEM)"),
    ] = None
    launch: Annotated[
        Literal["local", "external"],
        Setting(
            "--worker-launch",
            "LTX_WORKER_LAUNCH",
            "local: the service runs torchrun on its machine; external: workers started elsewhere connect to it",
        ),
    ] = "local"
    connect_seconds: Annotated[
        float,
        Setting(
            "--worker-connect-seconds",
            "LTX_WORKER_CONNECT_SECONDS",
            "external launch: how long an attempt waits for rank 0 to connect before it counts as failed",
        ),
    ] = Field(600.0, gt=0, le=7 * 24 * 3600)
    shard_base: Annotated[
        bool,
        Setting(
            "--shard-base",
            "LTX_SHARD_BASE",
            "shard the frozen base over a job's ranks (FSDP2), not a copy per rank: for a base one GPU cannot hold",
        ),
    ] = False
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

    @model_validator(mode="after")
    def _launch_fits(self) -> DistributedSettings:
        tls = (self.control_tls_cert, self.control_tls_key)
        if (tls[0] is None) != (tls[1] is None):
            raise ValueError("--worker-control-tls-cert and --worker-control-tls-key go together")
        for flag, path in zip(("--worker-control-tls-cert", "--worker-control-tls-key"), tls, strict=True):
            if path is not None and not path.is_file():
                raise ValueError(f"{flag} {path} is not a readable file")
        if self.launch == "local":
            if not is_loopback_host(self.control_host) or tls[0] is not None:
                raise ValueError(
                    "the control port of workers launched here stays on loopback, in plain text: "
                    "--worker-control-host other than loopback and --worker-control-tls-* need --worker-launch external"
                )
            return self
        if self.world_size == "auto":
            raise ValueError("--worker-launch external needs --world-size as a number: the ranks on all nodes")
        if self.control_port == 0:
            raise ValueError("--worker-launch external needs a fixed --worker-control-port for the workers to reach")
        if tls[0] is None and not is_loopback_host(self.control_host):
            raise ValueError(
                f"--worker-control-host {self.control_host} reaches beyond this machine: the workers' tokens and "
                "events need TLS there (--worker-control-tls-cert and --worker-control-tls-key)"
            )
        return self

    @property
    def control_tls(self) -> tuple[Path, Path] | None:
        """The control port's (certificate, key), if it serves TLS."""
        if self.control_tls_cert is None or self.control_tls_key is None:
            return None
        return self.control_tls_cert, self.control_tls_key

    def ranks(self, device: str) -> int:
        """The world size for jobs on `device` (the service's --device): auto counts the visible GPUs; an
        external launch's ranks are on other machines, so its number is taken as it is."""
        if self.launch == "external":
            return int(self.world_size)
        gpus = torch.cuda.device_count() if device in ("auto", "cuda") else 0
        if self.world_size == "auto":
            return max(gpus, 1)
        count = int(self.world_size)
        if gpus and count > gpus:
            raise WorldSizeUnavailable(f"--world-size {count} needs {count} GPUs; this machine sees {gpus}")
        return count
