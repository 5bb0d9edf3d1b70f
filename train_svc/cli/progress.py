"""The CLI's live display on stderr: rich progress bars on a terminal, plain lines at a bounded rate elsewhere.

On a terminal (stderr is one, and TERM is not dumb), a job's preprocessing and training steps, an upload's
bytes and a generation's sampling steps are rich progress bars (rich.progress), redrawn a few times a
second below the lines printed meanwhile, and cleared when their work ends; the last state of each is then
printed as an ordinary line. Anywhere else (a log file, a pipe, CI) nothing but plain text lines is
written, no carriage return nor control sequence: a progress line at the first update, each time the
work passes another `every_percent` of its total, at least `every_s` after the last one, at the end, and
(the latest one not yet shown) before every state change. FORCE_COLOR and the like never make a log file
a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api.report_codec import file_report_from_proto, skip_reason
from shared.dataset_report import DatasetReport, FileReport
from shared.grpc_util.errors import describe_status
from train_svc.cli.report_table import render

_STATE = pb.TrainingJob.State
_MEDIA = common_pb2.MediaKind

EVERY_PERCENT = 10.0  # off a terminal: a progress line each time the work passes another tenth ...
EVERY_S = 30.0  # ... or this long after the last one, whichever comes first
_REFRESH_PER_SECOND = 4


def format_duration(seconds: float) -> str:
    """h:mm:ss, hours unbounded (3725 -> 1:02:05, 90000 -> 25:00:00); negative counts as 0."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def stderr_console(stream: TextIO | None = None) -> Console:
    """A rich Console on `stream`, or on sys.stderr as it is at each write; a terminal only when that file
    really is one (so an environment's FORCE_COLOR or TTY_COMPATIBLE does not put escapes into logs)."""
    target = sys.stderr if stream is None else stream
    return Console(
        file=stream,
        stderr=stream is None,
        force_terminal=_isatty(target),
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=True,
    )


def is_live(console: Console) -> bool:
    """Whether the console gets a live display (a terminal that understands cursor movement)."""
    return console.is_terminal and not console.is_dumb_terminal


def write_line(console: Console, text: str) -> None:
    """One line: above the live display on a terminal, as plain text anywhere else."""
    if is_live(console):
        console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
    else:
        console.file.write(text + "\n")
        console.file.flush()


class Ticker:
    """One counted piece of work (steps, files, bytes): a rich bar `label [####....] info` on a terminal,
    `label info` lines at a bounded rate elsewhere (see the module's doc). `finish()` ends it: the bar is
    cleared and its last state printed as a line (on a terminal), or the last state not yet shown is
    printed (elsewhere). A later `update` starts it again."""

    def __init__(
        self,
        console: Console,
        *,
        every_percent: float = EVERY_PERCENT,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.every_percent, self.every_s, self.clock = every_percent, every_s, clock
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_text: str | None = None  # on a terminal: the state the bar shows
        self._pending: str | None = None  # off a terminal: the latest state not written yet
        self._written_at: float | None = None
        self._written_bucket = -1

    def update(self, done: int, total: int, label: str, info: str) -> None:
        text = f"{label} {info}"
        if is_live(self.console):
            self._show_live(done, total, label, info)
            self._last_text = text
            return
        now = self.clock()
        bucket = int(done * 100 / total // self.every_percent) if total > 0 else 0
        if (
            self._written_at is None
            or (total > 0 and done >= total)
            or bucket > self._written_bucket
            or now - self._written_at >= self.every_s
        ):
            write_line(self.console, text)
            self._pending = None
            self._written_at, self._written_bucket = now, bucket
        else:
            self._pending = text

    def _show_live(self, done: int, total: int, label: str, info: str) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[info]}", markup=False),
                console=self.console,
                transient=True,
                refresh_per_second=_REFRESH_PER_SECOND,
                redirect_stdout=False,
                # print(..., file=sys.stderr) elsewhere in the CLI then lands above the bar, not across it
                redirect_stderr=self.console.file is sys.stderr,
            )
            self._task = self._progress.add_task(label, total=total if total > 0 else None, completed=done, info=info)
            self._progress.start()
            return
        assert self._task is not None
        self._progress.update(
            self._task, completed=done, total=total if total > 0 else None, description=label, info=info
        )

    def line(self, text: str) -> None:
        write_line(self.console, text)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = self._task = None
        last = self._last_text or self._pending
        if last is not None:
            write_line(self.console, last)
        self._last_text = self._pending = None
        self._written_at, self._written_bucket = None, -1


class ProgressDisplay:
    """Shows the events of WatchTrainingJob: state changes, dataset reports, warnings and other events as
    lines; preprocessing (files) and training steps (loss, learning rate, time per step, ETA) as Tickers.
    The dataset report's table is printed once, when the job leaves PREPROCESSING (also when it fails
    there). Call `close()` when done following (it ends a bar still shown)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        console: Console | None = None,
        every_percent: float = EVERY_PERCENT,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console = console or stderr_console(stream)
        self._preprocessing = Ticker(self.console, every_percent=every_percent, every_s=every_s, clock=clock)
        self._training = Ticker(self.console, every_percent=every_percent, every_s=every_s, clock=clock)
        self._file_reports: list[FileReport] = []
        self._report_shown = False

    def note(self, text: str) -> None:
        """A line outside the job's events (e.g. the connection to the service was lost or regained)."""
        self._line(text)

    def close(self) -> None:
        """End the bars (a terminal is left with their last state as lines and its cursor shown)."""
        self._preprocessing.finish()
        self._training.finish()

    def _line(self, text: str) -> None:
        write_line(self.console, text)

    @staticmethod
    def _step_info(step: pb.TrainingStep) -> str:
        parts = f" (video {step.video_loss:.4f}, audio {step.audio_loss:.4f})" if step.audio_loss else ""
        return (
            f"loss {step.loss:.4f}{parts}  lr {step.learning_rate:.2e}  {step.step_seconds * 1000:.0f} ms/step  "
            f"ETA {format_duration(step.eta_seconds)}"
        )

    def show(self, event: pb.WatchTrainingJobResponse) -> None:
        """Display one event; heartbeats (and kinds this client does not know) show nothing."""
        kind = event.WhichOneof("event")
        if kind == "step":
            step = event.step
            self._preprocessing.finish()
            self._training.update(
                step.step, step.total_steps, f"  step {step.step}/{step.total_steps}", self._step_info(step)
            )
        elif kind == "state_change":
            change = event.state_change
            self.close()
            if change.state != _STATE.STATE_PREPROCESSING and self._file_reports and not self._report_shown:
                self._report_shown = True
                self._line("dataset report:\n" + render(DatasetReport.of(self._file_reports)))
            self._line(f"[{_STATE.Name(change.state).removeprefix('STATE_')}] {change.message}")
            if change.HasField("error"):
                self._line(describe_status(change.error))
        elif kind == "preprocess_progress":
            p = event.preprocess_progress
            self._training.finish()
            self._preprocessing.update(
                p.files_done,
                p.files_total,
                "  preprocessing:",
                f"{p.files_done}/{p.files_total} files, {p.samples_written} samples, {p.files_skipped} skipped",
            )
        elif kind == "skipped_file":
            reason, message = skip_reason(event.skipped_file.error)
            self._line(f"  skipped {event.skipped_file.path}: {reason} - {message}")
        elif kind == "warning":
            self._line(f"  warning {event.warning.path}: {event.warning.code} - {event.warning.message}")
        elif kind == "sample_encoded":
            b = event.sample_encoded.bundle
            cached = " (cached)" if event.sample_encoded.from_cache else ""
            self._line(
                f"  encoded {b.sample_id}: {b.frames} frames {b.width}x{b.height} @ {b.fps:g} fps, "
                f"{event.sample_encoded.video_tokens} tokens, caption {b.caption!r}{cached}"
            )
        elif kind == "dataset_ready":
            d = event.dataset_ready
            media = {_MEDIA.MEDIA_KIND_VIDEO: "video", _MEDIA.MEDIA_KIND_IMAGE: "image"}.get(d.media_kind)
            what = f"{d.samples} {media} samples" if media else f"{d.samples} samples"
            skipped = f", {d.files_skipped} files skipped" if d.files_skipped else ""
            cache = f" (from cache {d.cache_key[:12]})" if d.from_cache else ""
            self._line(f"  dataset ready: {what}{skipped}{cache}")
        elif kind == "checkpoint":
            c = event.checkpoint
            size = f" ({c.size_bytes / 1e6:.1f} MB)" if c.size_bytes else ""
            self._line(f"  checkpoint at step {c.step}: {c.uri}{size}")
        elif kind == "resumed":
            r = event.resumed
            where = f"from the checkpoint at step {r.from_step}" if r.from_step else "from the start"
            redo = f"; steps {r.from_step + 1}..{r.last_step} are trained again" if r.last_step > r.from_step else ""
            message = f": {r.message}" if r.message else ""
            self._line(f"[RESUMED] the service restarted; training continues {where}{redo}{message}")
        elif kind == "file_report":
            self._file_reports.append(file_report_from_proto(event.file_report))
        elif kind == "preview":
            v = event.preview
            self._line(
                f"  preview at step {v.step}, prompt {v.prompt_index + 1} {v.prompt!r} (seed {v.seed}, "
                f"{v.render_seconds:.1f} s): {v.video.uri}"
            )
        elif kind == "artifact":
            self._line(f"  wrote {event.artifact.name}: {event.artifact.uri} ({event.artifact.size_bytes} bytes)")
