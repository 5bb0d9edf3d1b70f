"""How long the storage keeps what ended jobs and generations leave (0: for ever, the default)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.settings import Setting, SettingsModel


class RetentionSettings(SettingsModel):
    retain_days: Annotated[
        float,
        Setting(
            "--retain-days",
            "LTX_RETAIN_DAYS",
            "days after a job ends that its checkpoints and dataset bundles are removed (0: kept)",
        ),
    ] = Field(0.0, ge=0)
    retain_outputs_days: Annotated[
        float,
        Setting(
            "--retain-outputs-days",
            "LTX_RETAIN_OUTPUTS_DAYS",
            "days after a job ends that its outputs (LoRA, previews, reports) are removed (0: kept)",
        ),
    ] = Field(0.0, ge=0)
    generation_ttl_hours: Annotated[
        float,
        Setting(
            "--generation-ttl-hours",
            "LTX_GENERATION_TTL_HOURS",
            "hours a generated video is kept (0: kept)",
        ),
    ] = Field(0.0, ge=0)
    sweep_minutes: Annotated[
        float,
        Setting(
            "--retention-sweep-minutes",
            "LTX_RETENTION_SWEEP_MINUTES",
            "minutes between retention sweeps (the first at start), when any retention is set",
        ),
    ] = Field(60.0, gt=0)

    @property
    def enabled(self) -> bool:
        return bool(self.retain_days or self.retain_outputs_days or self.generation_ttl_hours)
