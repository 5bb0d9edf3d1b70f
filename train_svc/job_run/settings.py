"""The operator's settings of every job's run: what the LoRA adapts, the seed, previews, checkpoints, the latent
cache's bound."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.request import defaults
from shared.settings import Setting, SettingsModel
from train_svc.generation.request import STEPS_MAX, STEPS_MIN


class RunSettings(SettingsModel):
    lora_targets: Annotated[
        Literal["attention", "attention+ff"],
        Setting("--lora-targets", "LTX_LORA_TARGETS", "layers the LoRA adapts (attention = the official recipe)"),
    ] = "attention"
    seed: Annotated[int, Setting("--seed", "LTX_SEED", "seed of every job's noise and LoRA initialisation")] = Field(
        defaults.SEED, ge=0, lt=2**63
    )
    # Denoising steps of each validation preview (single-stage, full guidance). 30 is the generation
    # default: previews then look like what the LoRA will give; fewer make them cheaper and rougher.
    preview_steps: Annotated[
        int, Setting("--preview-steps", "LTX_PREVIEW_STEPS", "denoising steps of each validation preview")
    ] = Field(30, ge=STEPS_MIN, le=STEPS_MAX)
    checkpoint_every: Annotated[
        int,
        Setting(
            "--checkpoint-every",
            "LTX_CHECKPOINT_EVERY",
            "steps between checkpoints (one is also written after the last step)",
        ),
    ] = Field(100, ge=1)
    checkpoint_keep: Annotated[
        int, Setting("--checkpoint-keep", "LTX_CHECKPOINT_KEEP", "newest checkpoints kept per job")
    ] = Field(2, ge=1)
    mlflow_tracking_uri: Annotated[
        str | None,
        Setting(
            "--mlflow-tracking-uri",
            "LTX_MLFLOW_TRACKING_URI",
            "file: URI of an MLflow store: each job's curves are also logged there as a run (needs mlflow-skinny)",
        ),
    ] = Field(None, pattern=r"^file:")
    latent_cache_max_bytes: Annotated[
        int,
        Setting(
            "--latent-cache-max-bytes",
            "LTX_LATENT_CACHE_MAX_BYTES",
            "bound on the latent cache's bytes: least recently used entries go, never one a live job uses (0: none)",
        ),
    ] = Field(0, ge=0)

    @property
    def feed_forward(self) -> bool:
        """Adapt the transformer's feed-forward layers too (off in the official recipe)."""
        return self.lora_targets == "attention+ff"
