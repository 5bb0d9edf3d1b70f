"""When a job renders its validation previews.

Four times during the run, after step round(k * N / 5) for k = 1..4, and once more after the last step
N: five previews per prompt, evenly spaced, the last one showing the LoRA exactly as exported. A short
run has fewer distinct steps; a step is never rendered twice, and step 0 (the base model) never.
"""

from __future__ import annotations

PREVIEWS_PER_PROMPT = 5


def preview_schedule(total_steps: int, previews: int = PREVIEWS_PER_PROMPT) -> tuple[int, ...]:
    """The steps (1..total_steps, ascending) after which previews are rendered."""
    if total_steps < 1:
        raise ValueError(f"a run has at least one step (got {total_steps})")
    if previews < 1:
        raise ValueError(f"at least one preview per prompt (got {previews})")
    # floor(k * N / P + 1/2) in integers: round half up (Python's round() would round a tie to even).
    steps = {(2 * k * total_steps + previews) // (2 * previews) for k in range(1, previews + 1)}
    return tuple(sorted(step for step in steps if step >= 1))
