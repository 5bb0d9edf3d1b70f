"""TrainingSettings: what a training job actually runs, after defaults and snapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.request.defaults import AspectRatio, Resolution, pixel_size

MIN_BILLABLE_UNITS = 100


@dataclass(frozen=True)
class TrainingSettings:
    """Every field of the spec's input with its final value; built by `validate.resolve`."""

    training_data_url: str
    trigger_phrase: str
    rank: int
    number_of_steps: int
    learning_rate: float
    number_of_frames: int  # of the form 8k+1
    frame_rate: int
    resolution: Resolution
    aspect_ratio: AspectRatio
    auto_scale_input: bool
    split_input_into_scenes: bool
    split_input_duration_threshold: float
    with_audio: bool | None  # None: audio only when every clip has a track
    audio_normalize: bool
    audio_preserve_pitch: bool
    validation: tuple[str, ...]  # the prompts of the spec's `validation` entries
    validation_negative_prompt: str
    validation_number_of_frames: int  # of the form 8k+1
    validation_frame_rate: int
    validation_resolution: Resolution
    validation_aspect_ratio: AspectRatio
    stg_scale: float
    debug_dataset: bool
    batch_size: int | None = None  # ours; None until the service resolves it (to its world size) at create

    @property
    def width(self) -> int:
        return pixel_size(self.resolution, self.aspect_ratio)[0]

    @property
    def height(self) -> int:
        return pixel_size(self.resolution, self.aspect_ratio)[1]

    @property
    def validation_width(self) -> int:
        return pixel_size(self.validation_resolution, self.validation_aspect_ratio)[0]

    @property
    def validation_height(self) -> int:
        return pixel_size(self.validation_resolution, self.validation_aspect_ratio)[1]

    @property
    def billable_units_on_success(self) -> int:
        return max(MIN_BILLABLE_UNITS, self.number_of_steps)

    def to_json_dict(self) -> dict[str, Any]:
        """The settings as the spec's JSON input (same keys, JSON-native values).

        Feeding the result back through `json_input.input_from_json` and `resolve` gives the same settings.
        """
        return {
            "training_data_url": self.training_data_url,
            "trigger_phrase": self.trigger_phrase,
            "rank": self.rank,
            "number_of_steps": self.number_of_steps,
            "learning_rate": self.learning_rate,
            "number_of_frames": self.number_of_frames,
            "frame_rate": self.frame_rate,
            "resolution": self.resolution.value,
            "aspect_ratio": self.aspect_ratio.value,
            "auto_scale_input": self.auto_scale_input,
            "split_input_into_scenes": self.split_input_into_scenes,
            "split_input_duration_threshold": self.split_input_duration_threshold,
            "with_audio": self.with_audio,
            "audio_normalize": self.audio_normalize,
            "audio_preserve_pitch": self.audio_preserve_pitch,
            "validation": [{"prompt": prompt} for prompt in self.validation],
            "validation_negative_prompt": self.validation_negative_prompt,
            "validation_number_of_frames": self.validation_number_of_frames,
            "validation_frame_rate": self.validation_frame_rate,
            "validation_resolution": self.validation_resolution.value,
            "validation_aspect_ratio": self.validation_aspect_ratio.value,
            "stg_scale": self.stg_scale,
            "debug_dataset": self.debug_dataset,
            **({"batch_size": self.batch_size} if self.batch_size is not None else {}),
        }
