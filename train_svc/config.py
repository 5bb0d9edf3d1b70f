"""train_svc's config tree: the service's own settings, and each component's settings nested under it.

Every flag, environment variable, default and range is declared once, on these classes and the
component classes they nest (shared.settings); `python -m train_svc --help` and the README's settings
table are rendered from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from shared.auth import AuthSettings
from shared.disk_space import SpaceGuard
from shared.fetch_policy import FetchPolicy
from shared.grpc_util.listen import ListenSettings
from shared.settings import Setting, SettingsModel, load_settings
from shared.tracing.settings import TracingSettings
from train_svc.distributed.settings import DistributedSettings
from train_svc.generation.settings import GenerationSettings
from train_svc.job_run.settings import RunSettings
from train_svc.jobs.quotas import Quotas
from train_svc.jobs.store import StoreSettings
from train_svc.models.base_model import DEFAULT_BASE_MODEL
from train_svc.models.device import PlacementSettings
from train_svc.preprocess_link import PreprocessLink
from train_svc.retention.settings import RetentionSettings

SERVICE_ENV = "TRAIN_SVC"  # {service} in variable names: TRAIN_SVC_PORT, TRAIN_SVC_HOST
DESCRIPTION = "LTX-2.3 LoRA training service (gRPC)"


class TrainServiceConfig(SettingsModel):
    storage: Annotated[Path, Setting("--storage", "LTX_STORAGE", "storage root (jobs, datasets, caches, outputs)")]
    preprocess: PreprocessLink
    # Repeatable: ID=PATH hosts a base under an id; a bare value is the default base (id "default").
    base_model: Annotated[
        tuple[str, ...],
        Setting(
            "--base-model",
            "LTX_BASE_MODEL",
            "a base model (diffusers LTX-2.3/2.5 folder, hub id or tiny preset), as ID=PATH or bare for the default",
        ),
    ] = (DEFAULT_BASE_MODEL,)
    server: ListenSettings = ListenSettings(port=50052)
    placement: PlacementSettings = PlacementSettings()
    run: RunSettings = RunSettings()
    generation: GenerationSettings = GenerationSettings()
    workers: DistributedSettings = DistributedSettings()
    concurrent_jobs: Annotated[
        int,
        Setting("--concurrent-jobs", "LTX_CONCURRENT_JOBS", "jobs and generations on the accelerator at once"),
    ] = Field(1, ge=1)
    # SIGTERM: running jobs stop at their next step boundary and checkpoint, then the server stops; all
    # within this many seconds (keep the pod's terminationGracePeriodSeconds above it).
    grace_seconds: Annotated[
        float,
        Setting(
            "--grace-seconds",
            "LTX_GRACE_SECONDS",
            "on SIGTERM: seconds for jobs to checkpoint and the server to stop (keep the pod's grace period above it)",
        ),
    ] = Field(25.0, gt=0)
    heartbeat_seconds: Annotated[
        float,
        Setting(
            "--heartbeat-seconds",
            "LTX_HEARTBEAT_SECONDS",
            "heartbeat interval of an idle WatchTrainingJob stream",
        ),
    ] = Field(10.0, gt=0)
    # A watcher whose stream accepts nothing for this long is cut off (RESOURCE_EXHAUSTED, WATCHER_TOO_SLOW).
    watch_write_timeout_seconds: Annotated[
        float,
        Setting(
            "--watch-write-timeout",
            "LTX_WATCH_WRITE_TIMEOUT",
            "seconds a watcher may take to accept an event before it is cut off",
        ),
    ] = Field(30.0, gt=0)
    # GenerateVideo also reads LoRA files under these folders (the local CLI adds the folder of the --lora
    # it was given, for its one principal; a remote caller only ever names files of its own).
    extra_lora_dirs: Annotated[
        tuple[Path, ...],
        Setting(
            "--extra-lora-dir",
            None,
            "a folder whose LoRA files admins may name in GenerateVideo, besides job outputs",
        ),
    ] = ()
    auth: AuthSettings = AuthSettings()
    # What training_data_url may name (checked at CreateTrainingJob; the preprocessor checks again).
    fetch: FetchPolicy = FetchPolicy()
    quotas: Quotas = Quotas()
    space: SpaceGuard = SpaceGuard()
    store: StoreSettings = StoreSettings()
    retention: RetentionSettings = RetentionSettings()
    tracing: TracingSettings = TracingSettings(service_name="ltx-train-svc")

    @model_validator(mode="after")
    def _memory_plan_runs(self) -> TrainServiceConfig:
        """Refuse at start the memory settings the trainer would refuse at a job's first step."""
        memory = self.placement
        if memory.offload_blocks and not memory.gradient_checkpointing:
            raise ValueError("--offload-blocks needs --gradient-checkpointing (without it nothing is saved)")
        if self.workers.shard_base and (memory.offload_blocks or memory.base_weights in ("int8", "fp8")):
            raise ValueError("--shard-base cannot be combined with --offload-blocks or --base-weights int8/fp8")
        return self


def from_args(argv: Sequence[str] | None = None) -> TrainServiceConfig:
    return load_settings(
        TrainServiceConfig, argv, service=SERVICE_ENV, prog="python -m train_svc", description=DESCRIPTION
    )
