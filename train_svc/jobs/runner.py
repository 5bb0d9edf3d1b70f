"""Runs one training job from dataset to artifacts, recording every event on the job.

  PREPROCESSING  ask the preprocessor for bundles; encode each one as it arrives (video VAE, text
                 encoder + connectors), so encoding overlaps preprocessing; encode the validation
                 prompts; then free the encoders; with debug_dataset, write debug_dataset.zip and
                 announce it before training starts, so a user can check the data early (it stays
                 available if training fails later)
  TRAINING       LoRA on the transformer, one event per step; with validation prompts, previews
                 rendered with the transformer as trained so far at the scheduled steps
  EXPORTING      lora.safetensors, config.json, preview.mp4 (the previews joined, when there are any),
                 result.json (which lists debug_dataset.zip and dataset_report.json too; the report is
                 written when preprocessing ends, also when the dataset is rejected)
Failures end the job FAILED with a reason (billed 0); a cancel request ends it CANCELLED at the next
step boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path

import structlog
import torch

from shared.bundle import path_from_uri
from shared.dataset_report import FileReport
from train_svc.export import outputs
from train_svc.export.debug_dataset import write_debug_dataset
from train_svc.export.lora_file import LoraMetadata, NonFiniteLora, write_lora
from train_svc.jobs.audio_decision import decide_audio
from train_svc.jobs.events import (
    ArtifactWritten,
    BundleInfo,
    DatasetFailure,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    FileSkipped,
    JobError,
    JobState,
    PreprocessEvent,
    SampleEncoded,
    StateChanged,
    StepCompleted,
)
from train_svc.jobs.job import Job
from train_svc.jobs.sample_encoding import SampleEncoders
from train_svc.models.base_model import BaseModel
from train_svc.models.device import Placement
from train_svc.training.config import TrainConfig
from train_svc.training.trainer import LoraTrainer, NonFiniteLoss, StepReport, TrainingSample
from train_svc.validation.previews import JobPreviews, encode_prompts, preview_requests
from train_svc.validation.reel import write_reel
from train_svc.validation.renderer import EncodedPrompts, PreviewRenderer

log = structlog.get_logger(__name__)

# Given a job, yields the preprocessor's events; closing the iterator abandons the preprocessing.
Preprocessor = Callable[[Job], Generator[PreprocessEvent, None, None]]


@dataclass(frozen=True)
class RunnerConfig:
    storage_root: Path
    base_model: BaseModel
    placement: Placement
    feed_forward: bool = False  # also adapt the transformer's feed-forward layers
    gradient_checkpointing: bool = True
    seed: int = 42
    preview_steps: int = 30  # denoising steps of each validation preview


class JobCancelled(Exception):
    pass


class JobRunner:
    def __init__(self, config: RunnerConfig, preprocess: Preprocessor):
        self.config = config
        self._preprocess = preprocess

    def output_dir(self, job: Job) -> Path:
        return self.config.storage_root / "jobs" / job.id / "outputs"

    def run(self, job: Job) -> None:
        bound = log.bind(job=job.id)
        try:
            samples, bundles, prompts = self._prepare_dataset(job)
            debug = self._write_debug_dataset(job, bundles) if job.settings.debug_dataset else None
            trainer = self._train(job, samples, prompts)
            self._export(job, trainer, debug)
            job.record(StateChanged(JobState.SUCCEEDED, f"billed {job.settings.billable_units_on_success} units"))
        except JobCancelled:
            job.record(StateChanged(JobState.CANCELLED, f"cancelled by request at step {job.step}"))
        except DatasetFailure as failure:
            self._fail(job, failure.error)
        except (NonFiniteLoss, NonFiniteLora) as exc:
            self._fail(job, JobError("ABORTED", "NON_FINITE_WEIGHTS", str(exc)))
        except Exception as exc:  # a bug or an environment fault: report it on the job, keep serving
            bound.exception("job failed")
            self._fail(job, JobError("INTERNAL", "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def _fail(job: Job, error: JobError) -> None:
        job.record(StateChanged(JobState.FAILED, error.message, error))

    def _check_cancel(self, job: Job) -> None:
        if job.cancel_requested.is_set():
            raise JobCancelled()

    def _prepare_dataset(self, job: Job) -> tuple[list[TrainingSample], list[Path], EncodedPrompts | None]:
        """Encode every bundle (and the validation prompts) and decide on audio; returns the samples and their
        bundle files, in sample-id order, and the encoded validation prompts (None without any)."""
        self._check_cancel(job)
        job.record(StateChanged(JobState.PREPROCESSING, "fetching and preprocessing the dataset"))
        events = self._preprocess(job)
        encoders = SampleEncoders(
            self.config.base_model.path, self.config.placement, audio=job.settings.with_audio is not False
        )
        samples: list[TrainingSample] = []
        bundles: list[BundleInfo] = []
        media_kind = "video"
        try:
            for event in events:
                self._check_cancel(job)
                if isinstance(event, BundleInfo):
                    samples.append(encoders.encode(event))
                    bundles.append(event)
                    job.record(SampleEncoded(event, samples[-1].latents.num_tokens))
                elif isinstance(event, DatasetProgress | FileSkipped | DatasetWarning | FileReport):
                    job.record(event)
                elif isinstance(event, DatasetReady):
                    media_kind = event.media_kind
                    log.info("dataset ready", job=job.id, samples=event.samples, skipped=event.files_skipped)
            prompts = encode_prompts(job.settings, encoders.caption) if samples else None
        finally:
            events.close()
            encoders.close()
            if job.file_reports:  # also when the dataset was rejected: it says why, file by file
                self._write_dataset_report(job)
        if not samples:
            raise DatasetFailure(JobError("FAILED_PRECONDITION", "NO_SAMPLES", "the dataset produced no samples"))
        decision = decide_audio(job.settings.with_audio, bundles, images=media_kind == "image")
        for warning in decision.warnings():
            job.record(warning)
        job.with_audio = decision.train_audio
        job.training_mode = decision.describe()
        if not decision.train_audio:
            samples = [replace(s, audio=None) for s in samples]
        # Arrival order depends on worker timing; training order must depend only on the seed.
        paths = {b.sample_id: path_from_uri(b.uri) for b in bundles}
        return sorted(samples, key=lambda s: s.sample_id), [paths[k] for k in sorted(paths)], prompts

    def _write_dataset_report(self, job: Job) -> None:
        out = self.output_dir(job)
        out.mkdir(parents=True, exist_ok=True)
        report = outputs.write_json(out / outputs.DATASET_REPORT_FILE, job.dataset_report.to_json_dict())
        job.record(ArtifactWritten("dataset_report", report.uri, report.sha256, report.size_bytes))

    def _write_debug_dataset(self, job: Job, bundles: list[Path]) -> outputs.OutputFile:
        """The samples as trained, viewable, announced at once so a user can check them before training."""
        self._check_cancel(job)
        out = self.output_dir(job)
        debug = outputs.describe(write_debug_dataset(out / outputs.DEBUG_DATASET_FILE, bundles))
        job.record(ArtifactWritten("debug_dataset", debug.uri, debug.sha256, debug.size_bytes))
        return debug

    def _train(self, job: Job, samples: list[TrainingSample], prompts: EncodedPrompts | None) -> LoraTrainer:
        settings = job.settings
        job.record(StateChanged(JobState.TRAINING, f"training on {len(samples)} samples, {job.training_mode}"))
        config = TrainConfig(
            rank=settings.rank,
            learning_rate=settings.learning_rate,
            steps=settings.number_of_steps,
            seed=self.config.seed,
            gradient_checkpointing=self.config.gradient_checkpointing,
            feed_forward=self.config.feed_forward,
            audio=bool(job.with_audio),
        )
        trainer = LoraTrainer(self.config.base_model.path, self.config.placement, config)
        previews = self._previews(job, trainer, prompts) if prompts is not None else None
        started = time.perf_counter()

        def on_step(report: StepReport) -> None:
            pace = (time.perf_counter() - started) / report.step
            job.record(
                StepCompleted(
                    step=report.step,
                    total_steps=report.total_steps,
                    loss=report.loss,
                    learning_rate=report.learning_rate,
                    step_seconds=report.step_seconds,
                    eta_seconds=pace * (report.total_steps - report.step),
                    video_loss=report.video_loss,
                    audio_loss=report.audio_loss,
                )
            )
            if previews is not None and not job.cancel_requested.is_set():  # a cancel skips pending previews
                previews.after_step(report.step)

        trainer.train(samples, on_step=on_step, should_stop=job.cancel_requested.is_set)
        self._check_cancel(job)
        return trainer

    def _previews(self, job: Job, trainer: LoraTrainer, prompts: EncodedPrompts) -> JobPreviews:
        return JobPreviews(
            PreviewRenderer(self.config.base_model.path, self.config.placement, trainer.transformer),
            preview_requests(job.settings, self.config.preview_steps, self.config.seed),
            prompts,
            total_steps=trainer.config.steps,
            output_dir=self.output_dir(job),
            with_audio=trainer.config.audio,
            record=job.record,
            warn=job.record,
        )

    def _export(self, job: Job, trainer: LoraTrainer, debug: outputs.OutputFile | None) -> None:
        job.record(StateChanged(JobState.EXPORTING, "writing the LoRA and its companions"))
        settings, cfg = job.settings, trainer.config
        out = self.output_dir(job)
        out.mkdir(parents=True, exist_ok=True)
        save_dtype = self.config.placement.base_dtype if self.config.placement.device.type != "cpu" else torch.float32
        metadata = LoraMetadata(
            trigger_phrase=settings.trigger_phrase,
            rank=cfg.rank,
            alpha=cfg.lora_alpha,
            base_model=job.base_model,
            steps=cfg.steps,
            training_type="t2v",
            audio=cfg.audio,
        )
        lora = outputs.describe(write_lora(out / outputs.LORA_FILE, trainer.lora_state_dict(), metadata, save_dtype))
        config = outputs.write_json(
            out / outputs.CONFIG_FILE,
            outputs.inference_config(
                settings_json=settings.to_json_dict(),
                base_model=job.base_model,
                rank=cfg.rank,
                alpha=cfg.lora_alpha,
                audio=cfg.audio,
            ),
        )
        reel = None
        if job.previews:
            reel_path = write_reel(out / outputs.VIDEO_FILE, job.previews, cfg.steps, with_audio=cfg.audio)
            reel = outputs.describe(reel_path)
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
            ),
        )
        written = (("lora_file", lora), ("config_file", config), ("video", reel), ("result_file", result))
        for name, item in written:
            if item is not None:
                job.record(ArtifactWritten(name, item.uri, item.sha256, item.size_bytes))
