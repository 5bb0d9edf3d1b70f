"""A job's training curves, built at export from its recorded events: TensorBoard event file and loss.png.

The job's log is the source, never the trainer's memory: a job that resumed after a restart (on this
replica or another) has its steps from before the restart in its log, each step once (a step trained
again after a resume is not recorded twice), so the curves hold exactly one point per step whichever
process trained it. Each point carries the time its step was recorded.

TensorBoard: one event file, `tensorboard/events.out.tfevents.<job id>` in the job's outputs (one file, so
that it is one artifact, `tensorboard`, downloaded like any other; `ltx-trainer train --out DIR` puts it
in `DIR/tensorboard/`, which `tensorboard --logdir DIR/tensorboard` opens). It holds the scalars `loss`,
`loss/video`, `loss/audio` (audio runs), `learning_rate`, `grad_norm` (norm before clipping),
`step_seconds`, and `loss_by_sigma/<low>-<high>` (the mean loss of the step's samples whose video noise
level fell in that quarter of [0, 1], at the steps that had one); each validation preview as an image
`preview/prompt_<i>` (its frames side by side) at its step, and the prompts as text.
loss.png: the loss per step with a moving average (and the video/audio split on audio runs) above the
learning rate, drawn by matplotlib's Agg canvas (no display, no pyplot state).
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import StepCompleted, ValidationPreview

TENSORBOARD_DIR = "tensorboard"
LOSS_PLOT_FILE = "loss.png"
SIGMA_BUCKETS = 4  # [0, .25), [.25, .5), [.5, .75), [.75, 1]
PREVIEW_FRAME_PX = 256  # long side of each preview frame in the event file


@dataclass(frozen=True)
class StepPoint:
    wall_time: float  # seconds since the epoch, when the step was recorded
    event: StepCompleted

    @property
    def step(self) -> int:
        return self.event.step


def step_points(logged: Iterable[LoggedEvent]) -> list[StepPoint]:
    """The StepCompleted events of a log, one per step (the first recorded), in step order."""
    points: dict[int, StepPoint] = {}
    for item in logged:
        if isinstance(item.event, StepCompleted) and item.event.step not in points:
            points[item.event.step] = StepPoint(item.time.timestamp(), item.event)
    return [points[step] for step in sorted(points)]


def tensorboard_file_name(job_id: str) -> str:
    return f"events.out.tfevents.{job_id}"


def sigma_bucket(sigma: float) -> str:
    index = min(max(int(sigma * SIGMA_BUCKETS), 0), SIGMA_BUCKETS - 1)
    return f"{index / SIGMA_BUCKETS:.2f}-{(index + 1) / SIGMA_BUCKETS:.2f}"


def loss_by_sigma(event: StepCompleted) -> dict[str, float]:
    """Bucket (as `sigma_bucket` names it) -> the mean loss of the step's samples whose sigma lies in it."""
    sums: dict[str, list[float]] = {}
    for sigma, loss in zip(event.sigmas, event.sample_losses, strict=False):
        sums.setdefault(sigma_bucket(sigma), []).append(loss)
    return {bucket: sum(losses) / len(losses) for bucket, losses in sorted(sums.items())}


def write_tensorboard(
    out_dir: Path, job_id: str, points: Sequence[StepPoint], previews: Sequence[ValidationPreview], *, audio: bool
) -> Path:
    """Write `out_dir/tensorboard/events.out.tfevents.<job_id>` (replacing an earlier one); return its path."""
    from torch.utils.tensorboard import SummaryWriter

    target_dir = out_dir / TENSORBOARD_DIR
    target = target_dir / tensorboard_file_name(job_id)
    scratch = out_dir / f".{TENSORBOARD_DIR}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    writer = SummaryWriter(log_dir=str(scratch), max_queue=1000, flush_secs=3600)
    try:
        for point in points:
            event, step, when = point.event, point.step, point.wall_time
            scalars: dict[str, float] = {
                "loss": event.loss,
                "learning_rate": event.learning_rate,
                "step_seconds": event.step_seconds,
            }
            if audio:
                scalars["loss/video"], scalars["loss/audio"] = event.video_loss, event.audio_loss
            if event.grad_norm is not None:
                scalars["grad_norm"] = event.grad_norm
            for bucket, loss in loss_by_sigma(event).items():
                scalars[f"loss_by_sigma/{bucket}"] = loss
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, step, walltime=when)
        times = {point.step: point.wall_time for point in points}
        prompts: dict[int, str] = {}
        for preview in sorted(previews, key=lambda p: (p.step, p.prompt_index)):
            strip = _frame_strip(preview.jpeg_frames)
            if strip is not None:
                tag = f"preview/prompt_{preview.prompt_index + 1}"
                writer.add_image(tag, strip, preview.step, walltime=times.get(preview.step), dataformats="HWC")
            prompts.setdefault(preview.prompt_index, preview.prompt)
        for index, prompt in sorted(prompts.items()):
            writer.add_text(f"preview/prompt_{index + 1}", prompt, 0)
    finally:
        writer.close()
    written = sorted(scratch.glob("events.out.tfevents.*"))
    if len(written) != 1:
        raise RuntimeError(f"the TensorBoard writer left {len(written)} event files, expected 1")
    target_dir.mkdir(parents=True, exist_ok=True)
    os.replace(written[0], target)
    shutil.rmtree(scratch, ignore_errors=True)
    return target


def _frame_strip(jpegs: Sequence[bytes]) -> np.ndarray | None:
    """The frames side by side (HWC uint8), each scaled to at most PREVIEW_FRAME_PX on its long side."""
    frames = []
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as image:
            frame = image.convert("RGB")
        frame.thumbnail((PREVIEW_FRAME_PX, PREVIEW_FRAME_PX))
        frames.append(np.asarray(frame))
    if not frames:
        return None
    height = max(frame.shape[0] for frame in frames)
    padded = [np.pad(f, ((0, height - f.shape[0]), (0, 0), (0, 0))) for f in frames]
    return np.concatenate(padded, axis=1)


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """The mean of each value and the up to `window` - 1 before it."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def write_loss_plot(path: Path, points: Sequence[StepPoint], *, audio: bool, title: str) -> Path:
    """Draw the loss curve (and the learning rate under it) into the PNG `path`, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = [point.step for point in points]
    losses = [point.event.loss for point in points]
    window = max(1, min(50, len(points) // 10))
    figure = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, lr_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    loss_axes.plot(steps, losses, color="tab:blue", alpha=0.35, linewidth=1, label="loss")
    loss_axes.plot(steps, moving_average(losses, window), color="tab:blue", linewidth=2, label=f"mean of {window}")
    if audio:
        video = moving_average([point.event.video_loss for point in points], window)
        sound = moving_average([point.event.audio_loss for point in points], window)
        loss_axes.plot(steps, video, color="tab:green", linewidth=1.5, label=f"video loss, mean of {window}")
        loss_axes.plot(steps, sound, color="tab:orange", linewidth=1.5, label=f"audio loss, mean of {window}")
    loss_axes.set_ylabel("loss")
    loss_axes.set_title(title)
    loss_axes.grid(alpha=0.3)
    loss_axes.legend(loc="upper right")
    lr_axes.plot(steps, [point.event.learning_rate for point in points], color="tab:red", linewidth=1.5)
    lr_axes.set_ylabel("learning rate")
    lr_axes.set_xlabel("step")
    lr_axes.grid(alpha=0.3)
    lr_axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    partial = path.with_name(f".{path.name}.tmp")
    figure.savefig(partial, format="png")
    os.replace(partial, path)
    return path
