"""What one generation asks for, checked as a whole: every bad value is reported at once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from shared.request import defaults
from shared.request.ranges import FRAME_RATE_MAX, FRAME_RATE_MIN, STG_SCALE_MAX, STG_SCALE_MIN, snap_frames

# The hosted trainer's built-in negative prompt for its validation videos: a generic quality prompt.
DEFAULT_NEGATIVE_PROMPT = defaults.VALIDATION_NEGATIVE_PROMPT
FRAMES_MIN, FRAMES_MAX = 9, 257  # then snapped down to 8k+1
SIZE_MULTIPLE = 32  # the video VAE's spatial compression
# ours; at least 2: with one step the LTX-2 scheduler's terminal stretch divides 0 by 0 and the video is NaN
STEPS_MIN, STEPS_MAX = 2, 100
GUIDANCE_MIN, GUIDANCE_MAX = 1.0, 20.0  # ours; 1.0 turns classifier-free guidance off
# LTX-2.3's recommended classifier-free guidance: 3.0 for video, 7.0 for audio.
GUIDANCE_SCALE = 3.0
AUDIO_GUIDANCE_SCALE = 7.0


class InvalidGenerationRequest(ValueError):
    """One or more values of a GenerationRequest are out of range."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


@dataclass(frozen=True)
class GenerationRequest:
    """A text-to-video+audio generation. `num_frames` is snapped down to 8k+1 on construction."""

    prompt: str
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    seed: int = defaults.SEED
    num_frames: int = defaults.NUMBER_OF_FRAMES
    frame_rate: int = defaults.FRAME_RATE
    width: int = 768
    height: int = 768
    steps: int = 30
    guidance_scale: float = GUIDANCE_SCALE  # video CFG; 1.0 = off
    audio_guidance_scale: float = AUDIO_GUIDANCE_SCALE  # audio CFG; 1.0 = off
    stg_scale: float = defaults.STG_SCALE  # spatio-temporal guidance for both streams; 0.0 = off
    lora_path: Path | None = None
    lora_scale: float = 1.0  # 0.0 gives exactly the base model
    # A LoRA made for another LTX version than the base's is applied anyway (only its modules that fit).
    allow_version_mismatch: bool = False

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise InvalidGenerationRequest(problems)
        object.__setattr__(self, "num_frames", snap_frames(self.num_frames))

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.frame_rate


def _problems(r: GenerationRequest) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []

    def between(field: str, value: float, low: float, high: float) -> None:
        if not (math.isfinite(value) and low <= value <= high):
            problems.append((field, f"must be between {low:g} and {high:g} (got {value:g})"))

    if not r.prompt.strip():
        problems.append(("prompt", "must not be empty"))
    if not 0 <= r.seed < 2**63:
        problems.append(("seed", f"must be between 0 and 2**63-1 (got {r.seed})"))
    between("num_frames", r.num_frames, FRAMES_MIN, FRAMES_MAX)
    between("frame_rate", r.frame_rate, FRAME_RATE_MIN, FRAME_RATE_MAX)
    for field, size in (("width", r.width), ("height", r.height)):
        if size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
            problems.append((field, f"must be a positive multiple of {SIZE_MULTIPLE} (got {size})"))
    between("steps", r.steps, STEPS_MIN, STEPS_MAX)
    between("guidance_scale", r.guidance_scale, GUIDANCE_MIN, GUIDANCE_MAX)
    between("audio_guidance_scale", r.audio_guidance_scale, GUIDANCE_MIN, GUIDANCE_MAX)
    between("stg_scale", r.stg_scale, STG_SCALE_MIN, STG_SCALE_MAX)
    if not math.isfinite(r.lora_scale):
        problems.append(("lora_scale", f"must be a finite number (got {r.lora_scale})"))
    return problems
