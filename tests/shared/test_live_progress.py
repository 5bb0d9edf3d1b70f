"""The CLI's live display (rich): real output captured from a rich Console on a StringIO, as a terminal and not.

Off a terminal: plain lines only (no carriage return, no escape sequence, even with FORCE_COLOR set), at a
bounded rate. On a terminal: a bar that ends cleared, with the cursor shown again and the last state printed
as a line. Durations past an hour read h:mm:ss.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from train_svc.cli.progress import ProgressDisplay, Ticker, format_duration, stderr_console
from train_svc.cli.upload import UploadProgress

STATE = pb.TrainingJob.State
ESCAPE = re.compile(r"\x1b")
HIDE_CURSOR, SHOW_CURSOR, ERASE_LINE = "\x1b[?25l", "\x1b[?25h", "\x1b[2K"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120), out


def _step(sequence: int, step: int, total: int, eta: float = 3725.0) -> pb.WatchTrainingJobResponse:
    training_step = pb.TrainingStep(
        step=step, total_steps=total, loss=0.25, learning_rate=1e-4, step_seconds=0.5, eta_seconds=eta
    )
    return pb.WatchTrainingJobResponse(sequence=sequence, step=training_step)


def _state(sequence: int, state: int, message: str) -> pb.WatchTrainingJobResponse:
    return pb.WatchTrainingJobResponse(sequence=sequence, state_change=pb.StateChange(state=state, message=message))


def _plain(text: str) -> None:
    assert "\r" not in text and not ESCAPE.search(text), repr(text[:300])


def _shown_steps(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"^  step (\d+)/", text, re.MULTILINE)]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(3725, "1:02:05"), (3599, "0:59:59"), (3600, "1:00:00"), (90_000, "25:00:00"), (65.9, "0:01:05"), (-3, "0:00:00")],
)
def test_durations_read_hours_minutes_seconds(seconds, shown):
    assert format_duration(seconds) == shown


def test_off_a_terminal_fast_steps_give_a_line_per_tenth_and_the_last(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # never turns a log file into a terminal
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    out = io.StringIO()
    clock = Clock()
    display = ProgressDisplay(out, clock=clock)
    display.show(_state(1, STATE.STATE_TRAINING, "training"))
    for step in range(1, 10_001):
        clock.now += 0.001
        display.show(_step(step + 1, step, 10_000))
    display.show(_state(10_002, STATE.STATE_SUCCEEDED, "done"))
    text = out.getvalue()
    _plain(text)
    assert _shown_steps(text) == [1, *range(1000, 10_001, 1000)]
    lines = text.splitlines()
    assert lines[0] == "[TRAINING] training" and lines[-1] == "[SUCCEEDED] done"
    assert lines[-2] == "  step 10000/10000 loss 0.2500  lr 1.00e-04  500 ms/step  ETA 1:02:05"


def test_off_a_terminal_slow_steps_give_a_line_per_30_seconds():
    out = io.StringIO()
    clock = Clock()
    display = ProgressDisplay(out, clock=clock)
    for step in range(1, 91):  # 10 s a step, 900 s, never a tenth of the 1000 steps
        clock.now += 10
        display.show(_step(step, step, 1000))
    text = out.getvalue()
    _plain(text)
    assert _shown_steps(text) == list(range(1, 91, 3))


def test_off_a_terminal_the_latest_step_is_shown_before_a_state_change():
    out = io.StringIO()
    clock = Clock()
    display = ProgressDisplay(out, clock=clock)
    for step in range(1, 6):
        clock.now += 1
        display.show(_step(step, step, 100))
    display.show(_state(6, STATE.STATE_FAILED, "diverged"))
    display.close()  # nothing left to show: no repeat
    text = out.getvalue()
    _plain(text)
    assert _shown_steps(text) == [1, 5] and text.splitlines()[-1] == "[FAILED] diverged"


def test_off_a_terminal_preprocessing_is_rate_bounded_and_ends_with_its_last_state():
    out = io.StringIO()
    clock = Clock()
    display = ProgressDisplay(out, clock=clock)
    for done in range(1, 501):
        clock.now += 0.01
        progress = common_pb2.PreprocessProgress(files_done=done, files_total=500, samples_written=done)
        display.show(pb.WatchTrainingJobResponse(sequence=done, preprocess_progress=progress))
    text = out.getvalue()
    _plain(text)
    lines = [line for line in text.splitlines() if line.startswith("  preprocessing:")]
    assert len(lines) == 11
    assert lines[-1] == "  preprocessing: 500/500 files, 500 samples, 0 skipped"


def test_off_a_terminal_upload_lines_are_plain_and_rate_bounded():
    out = io.StringIO()
    clock = Clock()
    upload = UploadProgress("clips.zip", 100_000_000, out, clock=clock)
    for chunk in range(1, 101):
        clock.now += 0.05
        upload.show(chunk * 1_000_000)
    upload.close()
    text = out.getvalue()
    _plain(text)
    lines = text.splitlines()
    assert len(lines) == 11 and all(line.startswith("uploading clips.zip: ") for line in lines)
    assert lines[-1] == "uploading clips.zip: 100.0/100.0 MB, 20.0 MB/s"


def test_a_stream_that_is_no_terminal_gets_no_escapes_even_with_force_color(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    out = io.StringIO()
    ticker = Ticker(stderr_console(out))
    for done in range(0, 11):
        ticker.update(done, 10, "work", f"{done}/10")
    ticker.finish()
    _plain(out.getvalue())
    assert out.getvalue().splitlines()[-1] == "work 10/10"


def _after_last_escape(text: str) -> str:
    return re.split(r"\x1b\[[0-9;?]*[A-Za-z]", text)[-1]


def test_on_a_terminal_the_bar_ends_cleared_with_its_last_state_as_a_line():
    console, out = _console(terminal=True)
    display = ProgressDisplay(console=console)
    display.show(_state(1, STATE.STATE_TRAINING, "training"))
    for step in range(1, 101):
        display.show(_step(step + 1, step, 100))
        if step == 50:
            checkpoint = pb.CheckpointWritten(step=50, uri="file:///s/ckpt-50.pt")
            display.show(pb.WatchTrainingJobResponse(sequence=200, checkpoint=checkpoint))
    display.show(_state(300, STATE.STATE_SUCCEEDED, "done"))
    text = out.getvalue()
    assert HIDE_CURSOR in text and "ETA 1:02:05" in text
    # the cursor is shown again after it was last hidden, and the bar's line is erased after that
    assert text.rindex(SHOW_CURSOR) > text.rindex(HIDE_CURSOR)
    assert text.rindex(ERASE_LINE) > text.rindex(SHOW_CURSOR)
    assert _after_last_escape(text) == (
        "  step 100/100 loss 0.2500  lr 1.00e-04  500 ms/step  ETA 1:02:05\n[SUCCEEDED] done\n"
    )
    assert "  checkpoint at step 50: file:///s/ckpt-50.pt\n" in text  # printed above the bar meanwhile


def test_on_a_terminal_close_ends_a_bar_left_open():
    console, out = _console(terminal=True)
    display = ProgressDisplay(console=console)
    display.show(_step(1, 7, 100, eta=7200))
    display.close()
    text = out.getvalue()
    assert text.rindex(SHOW_CURSOR) > text.rindex(HIDE_CURSOR)
    assert _after_last_escape(text) == "  step 7/100 loss 0.2500  lr 1.00e-04  500 ms/step  ETA 2:00:00\n"
    display.close()
    assert out.getvalue() == text  # a second close writes nothing


def test_on_a_terminal_an_upload_ends_cleared_with_its_total():
    console, out = _console(terminal=True)
    clock = Clock()
    upload = UploadProgress("clips.zip", 8_000_000, console=console, clock=clock)
    for chunk in range(1, 3):
        clock.now += 1
        upload.show(chunk * 4_000_000)
    upload.close()
    text = out.getvalue()
    assert text.rindex(SHOW_CURSOR) > text.rindex(HIDE_CURSOR)
    assert _after_last_escape(text) == "uploading clips.zip: 8.0/8.0 MB, 4.0 MB/s\n"
