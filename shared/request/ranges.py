"""The values a training request may take (spec: "Input Parameters Reference"; ours where marked),
and the 8k+1 frame-count rule. Pure constants: the wire mapping (validate.py) and the generation
request both read them."""

RANKS = (8, 16, 32, 64, 128)
STEPS_MIN, STEPS_MAX, STEPS_MULTIPLE = 100, 20_000, 100
LEARNING_RATE_MAX = 1.0  # ours: the spec only says "number"; 1.0 still admits Prodigy-style optimizers
FRAMES_MIN, FRAMES_MAX = 9, 121  # then snapped down to 8k+1
FRAME_RATE_MIN, FRAME_RATE_MAX = 8, 60
SPLIT_THRESHOLD_MIN, SPLIT_THRESHOLD_MAX = 1.0, 60.0
STG_SCALE_MIN, STG_SCALE_MAX = 0.0, 3.0
BATCH_SIZE_MIN, BATCH_SIZE_MAX = 1, 64  # ours: samples per optimizer step over all ranks
URL_SCHEMES = ("http", "https", "file", "upload")  # ours; a URL without a scheme is a storage path


def snap_frames(count: int) -> int:
    """The largest frame count of the form 8k+1 that is not above `count` (count >= 1)."""
    return (count - 1) // 8 * 8 + 1
