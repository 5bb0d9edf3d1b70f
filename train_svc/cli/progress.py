"""Turns the events of WatchTrainingJob into a live progress display on the terminal (stderr)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api.report_codec import file_report_from_proto, skip_reason
from shared.dataset_report import DatasetReport, FileReport
from shared.grpc_util.errors import describe_status
from train_svc.cli.report_table import render

_STATE = pb.TrainingJob.State
_MEDIA = common_pb2.MediaKind


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:d}:{secs:02d}"


class ProgressDisplay:
    """Prints state changes, dataset reports and warnings as lines; steps at most once per interval,
    as one live line on a terminal. The last step before a state change is always shown. The dataset
    report's table is printed once, when the job leaves PREPROCESSING (also when it fails there)."""

    def __init__(self, stream: TextIO = sys.stderr, step_interval_s: float = 1.0):
        self.stream = stream
        self.live = stream.isatty()
        self.step_interval_s = step_interval_s
        self._last_step_print = 0.0
        self._unshown_step: pb.TrainingStep | None = None
        self._live_line_open = False
        self._file_reports: list[FileReport] = []
        self._report_shown = False

    def note(self, text: str) -> None:
        """A line outside the job's events (e.g. the connection to the service was lost or regained)."""
        self._line(text)

    def _line(self, text: str) -> None:
        self._flush_step()
        if self._live_line_open:
            self.stream.write("\n")
            self._live_line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    @staticmethod
    def _step_text(step: pb.TrainingStep) -> str:
        width = 24
        done = int(width * step.step / max(step.total_steps, 1))
        parts = f" (video {step.video_loss:.4f}, audio {step.audio_loss:.4f})" if step.audio_loss else ""
        return (
            f"  step {step.step}/{step.total_steps} [{'#' * done}{'.' * (width - done)}] "
            f"loss {step.loss:.4f}{parts}"
            f"  lr {step.learning_rate:.2e}  {step.step_seconds * 1000:.0f} ms/step  "
            f"ETA {_duration(step.eta_seconds)}"
        )

    def _print_step(self, step: pb.TrainingStep) -> None:
        self._unshown_step = None
        self._last_step_print = time.monotonic()
        if self.live:
            self.stream.write("\r" + self._step_text(step))
            self._live_line_open = True
        else:
            self.stream.write(self._step_text(step) + "\n")
        self.stream.flush()

    def _flush_step(self) -> None:
        if self._unshown_step is not None:
            self._print_step(self._unshown_step)

    def show(self, event: pb.WatchTrainingJobResponse) -> None:
        """Display one event; heartbeats (and kinds this client does not know) show nothing."""
        kind = event.WhichOneof("event")
        if kind == "step":
            step = event.step
            if time.monotonic() - self._last_step_print >= self.step_interval_s or step.step == step.total_steps:
                self._print_step(step)
            else:
                self._unshown_step = step
        elif kind == "state_change":
            change = event.state_change
            if change.state != _STATE.STATE_PREPROCESSING and self._file_reports and not self._report_shown:
                self._report_shown = True
                self._line("dataset report:\n" + render(DatasetReport.of(self._file_reports)))
            self._line(f"[{_STATE.Name(change.state).removeprefix('STATE_')}] {change.message}")
            if change.HasField("error"):
                self._line(describe_status(change.error))
        elif kind == "preprocess_progress":
            p = event.preprocess_progress
            self._line(
                f"  preprocessing: {p.files_done}/{p.files_total} files, {p.samples_written} samples, "
                f"{p.files_skipped} skipped"
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
