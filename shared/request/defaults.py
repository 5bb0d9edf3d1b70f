"""The hosted trainer's defaults and resolution buckets, as published in the spec.

Everything a request leaves unset takes its value from the block below; `validate.resolve` is the
only reader, so a change here is a change of the public contract.
"""

from __future__ import annotations

from enum import StrEnum


class Resolution(StrEnum):
    """Training resolution bucket; the value is the spec's JSON spelling."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class AspectRatio(StrEnum):
    """Aspect ratio of the bucket; the value is the spec's JSON spelling."""

    LANDSCAPE_16_9 = "16:9"
    SQUARE_1_1 = "1:1"
    PORTRAIT_9_16 = "9:16"


# --- defaults (spec: "Input Parameters Reference") -----------------------------------------------
TRIGGER_PHRASE = ""
RANK = 32
NUMBER_OF_STEPS = 2000
LEARNING_RATE = 2e-4
NUMBER_OF_FRAMES = 89
FRAME_RATE = 24
RESOLUTION = Resolution.MEDIUM
ASPECT_RATIO = AspectRatio.SQUARE_1_1
AUTO_SCALE_INPUT = False
SPLIT_INPUT_INTO_SCENES = True
SPLIT_INPUT_DURATION_THRESHOLD = 30.0  # seconds
WITH_AUDIO: bool | None = None  # None: audio only when every clip has a track
AUDIO_NORMALIZE = True
AUDIO_PRESERVE_PITCH = True
VALIDATION: tuple[str, ...] = ()  # validation prompts
VALIDATION_NEGATIVE_PROMPT = (
    "blurry, out of focus, low quality, low resolution, pixelated, jpeg artifacts, compression noise, "
    "grainy, overexposed, underexposed, washed out colors, oversaturated, distorted, deformed, "
    "disfigured, warped anatomy, extra limbs, missing limbs, malformed hands, extra fingers, "
    "fused fingers, unnatural pose, bad proportions, melting faces, flickering, jittery motion, "
    "frame stutter, morphing, inconsistent lighting, static frame, frozen video, duplicated "
    "subjects, cropped subject, cut-off frame, watermark, logo, signature, text, captions, "
    "subtitles, border, letterbox, split screen, collage, cartoonish, ugly, amateurish"
)
VALIDATION_NUMBER_OF_FRAMES = 89
VALIDATION_FRAME_RATE = 24
VALIDATION_RESOLUTION = Resolution.HIGH
VALIDATION_ASPECT_RATIO = AspectRatio.SQUARE_1_1
STG_SCALE = 1.0  # 0.0 disables spatio-temporal guidance
SEED = 42  # ours (the spec has no seed): training jobs' and generations' default
DEBUG_DATASET = False

# --- pixel size of each bucket: (width, height) ---------------------------------------------------
PIXEL_SIZES: dict[tuple[Resolution, AspectRatio], tuple[int, int]] = {
    (Resolution.LOW, AspectRatio.LANDSCAPE_16_9): (512, 288),
    (Resolution.LOW, AspectRatio.SQUARE_1_1): (512, 512),
    (Resolution.LOW, AspectRatio.PORTRAIT_9_16): (288, 512),
    (Resolution.MEDIUM, AspectRatio.LANDSCAPE_16_9): (768, 448),
    (Resolution.MEDIUM, AspectRatio.SQUARE_1_1): (768, 768),
    (Resolution.MEDIUM, AspectRatio.PORTRAIT_9_16): (448, 768),
    (Resolution.HIGH, AspectRatio.LANDSCAPE_16_9): (960, 544),
    (Resolution.HIGH, AspectRatio.SQUARE_1_1): (960, 960),
    (Resolution.HIGH, AspectRatio.PORTRAIT_9_16): (544, 960),
}


def pixel_size(resolution: Resolution, aspect_ratio: AspectRatio) -> tuple[int, int]:
    """(width, height) in pixels of the bucket."""
    return PIXEL_SIZES[(resolution, aspect_ratio)]
