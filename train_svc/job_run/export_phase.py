"""EXPORTING, the last phase of a job: everything its outputs folder holds, written and announced.

lora.safetensors (alpha folded in, in the base dtype on an accelerator), config.json, preview.mp4 (the
previews joined, when there are any), the training curves (a TensorBoard event file and loss.png, built
from the steps the job's log holds), and result.json listing them; each is announced as an artifact. With
an MLflow URI the same curves are then logged as a run there; a failure there is a warning on the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog
import torch

from shared.disk_space import SpaceGuard
from train_svc.export import outputs
from train_svc.export.lora_file import LoraMetadata, write_lora
from train_svc.export.training_curves import LOSS_PLOT_FILE, step_points, write_loss_plot, write_tensorboard
from train_svc.jobs.events import ArtifactWritten, DatasetWarning, JobState, StateChanged
from train_svc.jobs.job import Job
from train_svc.models.device import Placement
from train_svc.training.config import TrainConfig
from train_svc.validation.reel import write_reel

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ExportTarget:
    output_dir: Path
    placement: Placement  # the LoRA is saved in its base dtype on an accelerator, float32 on the CPU
    space: SpaceGuard
    mlflow_tracking_uri: str | None


def export_outputs(
    job: Job,
    lora_state: dict[str, torch.Tensor],
    cfg: TrainConfig,
    debug: outputs.OutputFile | None,
    target: ExportTarget,
) -> None:
    """EXPORTING: the LoRA, config.json, the preview reel, the training curves and result.json, each announced
    as an artifact; then, with an MLflow URI, the same curves as a run there."""
    job.fence()
    job.record(StateChanged(JobState.EXPORTING, "writing the LoRA and its companions"))
    settings = job.settings
    out = target.output_dir
    out.mkdir(parents=True, exist_ok=True)
    target.space.check(out, sum(p.numel() * 4 for p in lora_state.values()))
    save_dtype = target.placement.base_dtype if target.placement.device.type != "cpu" else torch.float32
    metadata = LoraMetadata(
        trigger_phrase=settings.trigger_phrase,
        rank=cfg.rank,
        alpha=cfg.lora_alpha,
        base_model=job.base_model,
        steps=cfg.steps,
        training_type="t2v",
        audio=cfg.audio,
        ltx_version=job.base_version,
    )
    lora = outputs.describe(write_lora(out / outputs.LORA_FILE, lora_state, metadata, save_dtype))
    config = outputs.write_json(
        out / outputs.CONFIG_FILE,
        outputs.inference_config(
            settings_json=settings.to_json_dict(),
            base_model=job.base_model,
            ltx_version=job.base_version,
            rank=cfg.rank,
            alpha=cfg.lora_alpha,
            audio=cfg.audio,
            base_weights=target.placement.base_weights,
        ),
    )
    reel = None
    if job.previews:
        reel_path = write_reel(out / outputs.VIDEO_FILE, job.previews, cfg.steps, with_audio=cfg.audio)
        reel = outputs.describe(reel_path)
    tensorboard, loss_plot = _training_curves(job, out, cfg, target.space)
    report_path = out / outputs.DATASET_REPORT_FILE
    result = outputs.write_json(
        out / outputs.RESULT_FILE,
        outputs.result_document(
            lora=lora,
            config=config,
            video=reel,
            debug=debug,
            report=outputs.describe(report_path) if report_path.exists() else None,
            billable=settings.billable_units_on_success,
            tensorboard=tensorboard,
            loss_plot=loss_plot,
        ),
    )
    written = (
        ("lora_file", lora),
        ("config_file", config),
        ("video", reel),
        ("tensorboard", tensorboard),
        ("loss_plot", loss_plot),
        ("result_file", result),
    )
    for name, item in written:
        if item is not None:
            job.record(ArtifactWritten(name, item.uri, item.sha256, item.size_bytes))
    if target.mlflow_tracking_uri and loss_plot is not None:
        _log_mlflow(job, target.mlflow_tracking_uri, cfg, loss_plot)


def _training_curves(
    job: Job, out: Path, cfg: TrainConfig, space: SpaceGuard
) -> tuple[outputs.OutputFile | None, outputs.OutputFile | None]:
    """The TensorBoard event file and loss.png, from the steps the job's log holds (one point per step,
    also after a resume: see train_svc/export/training_curves.py)."""
    points = step_points(job.step_log)
    if not points:
        return None, None
    frames = sum(len(frame) for preview in job.previews for frame in preview.jpeg_frames)
    space.check(out, 1024 * len(points) + frames + (1 << 20))
    events = write_tensorboard(out, job.id, points, job.previews, audio=cfg.audio)
    title = f"{job.name}: {len(points)} steps, rank {cfg.rank}, learning rate {cfg.learning_rate:g}"
    plot = write_loss_plot(out / LOSS_PLOT_FILE, points, audio=cfg.audio, title=title)
    return outputs.describe(events), outputs.describe(plot)


def _log_mlflow(job: Job, uri: str, cfg: TrainConfig, loss_plot: outputs.OutputFile) -> None:
    """The same curves as an MLflow run; a failure there is a warning on the job, never its failure."""
    from train_svc.export.mlflow_run import log_run

    params = {
        "job": job.name,
        "base_model": job.base_model,
        "rank": cfg.rank,
        "learning_rate": cfg.learning_rate,
        "number_of_steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "with_audio": cfg.audio,
        "trigger_phrase": job.settings.trigger_phrase,
    }
    try:
        run_id = log_run(
            uri,
            job_id=job.id,
            run_name=job.name,
            points=step_points(job.step_log),
            params=params,
            audio=cfg.audio,
            artifacts=[loss_plot.path],
        )
    except Exception as exc:
        log.warning("mlflow logging failed", job=job.id, exc_info=exc)
        why = f"{type(exc).__name__}: {str(exc)[:300]}"
        message = f"the run could not be logged to MLflow ({why}); the job's outputs are complete"
        job.record(DatasetWarning("mlflow", "MLFLOW_FAILED", message))
    else:
        log.info("training curves logged to mlflow", job=job.id, run=run_id)
