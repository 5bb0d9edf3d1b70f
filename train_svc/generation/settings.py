"""The operator's settings of generation (GenerateVideo and the CLI's generate)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.settings import Setting, SettingsModel

DEFAULT_PIPELINE_IDLE_SECONDS = 300.0


class GenerationSettings(SettingsModel):
    # The pipeline (transformer, VAEs, Gemma 3, vocoder; ~60 GB in bf16 for the real model) is kept in host
    # memory between generations, then dropped after this long without one: the next generation loads it
    # again. 0 drops it right after each generation (unless another one is waiting for it).
    pipeline_idle_seconds: Annotated[
        float,
        Setting(
            "--pipeline-idle-seconds",
            "LTX_PIPELINE_IDLE_SECONDS",
            "seconds without a generation after which the generation pipeline is unloaded (0: after each one)",
        ),
    ] = Field(DEFAULT_PIPELINE_IDLE_SECONDS, ge=0)
