"""The training worker's settings: which job folder to train, and where its service listens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from shared.settings import Setting, SettingsModel

SERVICE_ENV = "TRAIN_WORKER"
DESCRIPTION = "one rank of a job's LoRA training, under torchrun or any torch.distributed launcher"


class WorkerSettings(SettingsModel):
    job_dir: Annotated[Path, Setting("--job-dir", "LTX_WORKER_JOB_DIR", "the job's folder on shared storage")]
    control: Annotated[
        str, Setting("--control", "LTX_WORKER_CONTROL", "HOST:PORT of the training service's worker control port")
    ]
    control_ca: Annotated[
        Path | None,
        Setting(
            "--control-ca", "LTX_WORKER_CONTROL_CA", "the control port's CA certificate (PEM): TLS; unset: plain text"
        ),
    ] = None
