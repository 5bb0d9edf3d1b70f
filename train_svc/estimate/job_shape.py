"""What an estimate is asked about: the job's bucket and run, and the memory settings it trains under."""

from __future__ import annotations

from dataclasses import dataclass, replace

from train_svc.validation.schedule import preview_schedule

AUDIO_LATENTS_PER_SECOND = 25  # 16 kHz mel frames (hop 160) compressed 4x by the audio VAE


@dataclass(frozen=True)
class JobShape:
    width: int
    height: int
    frames: int
    frame_rate: float
    with_audio: bool
    rank: int
    steps: int
    batch_size: int
    feed_forward: bool
    validation_prompts: int
    validation_size: tuple[int, int, int]  # width, height, frames of each preview
    preview_steps: int  # denoising steps of each preview
    billable_units: int

    @classmethod
    def of_settings(cls, settings, *, feed_forward: bool, preview_steps: int, world_size: int = 1) -> JobShape:
        """The shape of a resolved request (shared.request.TrainingSettings); unset with_audio counts as audio."""
        return cls(
            width=settings.width,
            height=settings.height,
            frames=settings.number_of_frames,
            frame_rate=float(settings.frame_rate),
            with_audio=settings.with_audio is not False,
            rank=settings.rank,
            steps=settings.number_of_steps,
            batch_size=settings.batch_size or world_size,
            feed_forward=feed_forward,
            validation_prompts=len(settings.validation),
            validation_size=(
                settings.validation_width,
                settings.validation_height,
                settings.validation_number_of_frames,
            ),
            preview_steps=preview_steps,
            billable_units=settings.billable_units_on_success,
        )

    def resized(self, width: int | None, height: int | None, frames: int | None) -> JobShape:
        return replace(self, width=width or self.width, height=height or self.height, frames=frames or self.frames)

    @property
    def audio_tokens(self) -> int:
        return round(self.frames / self.frame_rate * AUDIO_LATENTS_PER_SECOND) if self.with_audio else 0

    @property
    def preview_renders(self) -> int:
        return len(preview_schedule(self.steps)) * self.validation_prompts


@dataclass(frozen=True)
class MemoryPlan:
    """The service's memory settings, resolved: base weights bf16|fp32|int8|fp8, compute dtype bf16|fp32."""

    base_weights: str
    compute: str
    gradient_checkpointing: bool = True
    offload_blocks: int = 0

    def describe(self) -> str:
        flags = [f"--base-weights {self.base_weights}"]
        if self.offload_blocks:
            flags.append(f"--offload-blocks {self.offload_blocks}")
        if not self.gradient_checkpointing:
            flags.append("--no-gradient-checkpointing")
        return " ".join(flags)
