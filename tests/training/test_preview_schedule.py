"""When previews are rendered, and which of their frames are shown as JPEGs."""

from __future__ import annotations

import pytest

from train_svc.validation.schedule import PREVIEWS_PER_PROMPT, preview_schedule
from train_svc.validation.thumbnails import spread


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (2000, (400, 800, 1200, 1600, 2000)),
        (100, (20, 40, 60, 80, 100)),
        (300, (60, 120, 180, 240, 300)),
        (7, (1, 3, 4, 6, 7)),  # 1.4, 2.8, 4.2, 5.6 rounded
        (3, (1, 2, 3)),  # 0.6, 1.2, 1.8, 2.4: repeats rendered once
        (1, (1,)),
    ],
)
def test_four_previews_during_the_run_and_one_at_the_end(steps, expected):
    assert preview_schedule(steps) == expected


def test_the_schedule_is_increasing_ends_at_the_last_step_and_never_renders_step_0():
    for steps in range(1, 400):
        schedule = preview_schedule(steps)
        assert list(schedule) == sorted(set(schedule))
        assert schedule[0] >= 1 and schedule[-1] == steps
        assert len(schedule) == min(steps, PREVIEWS_PER_PROMPT)


def test_a_schedule_needs_a_step_and_a_preview():
    with pytest.raises(ValueError):
        preview_schedule(0)
    with pytest.raises(ValueError):
        preview_schedule(100, previews=0)


@pytest.mark.parametrize(
    ("count", "total", "expected"),
    [(4, 89, [0, 29, 59, 88]), (4, 9, [0, 3, 5, 8]), (4, 3, [0, 1, 2]), (4, 1, [0]), (1, 9, [0])],
)
def test_jpeg_frames_are_evenly_spread_first_and_last_included(count, total, expected):
    assert spread(count, total) == expected
