"""Runs one training job from dataset to artifacts, recording every event on the job.

  PREPROCESSING  ask the preprocessor for bundles; encode each one as it arrives (video VAE, text
                 encoder + connectors), so encoding overlaps preprocessing; encode the validation
                 prompts; then free the encoders; with debug_dataset, write debug_dataset.zip and
                 announce it before training starts, so a user can check the data early (it stays
                 available if training fails later)
  TRAINING       LoRA on the transformer, one event per step; with validation prompts, previews
                 rendered with the transformer as trained so far at the scheduled steps
  EXPORTING      lora.safetensors, config.json, preview.mp4 (the previews joined, when there are any),
                 the training curves from the job's recorded steps (tensorboard/events.out.tfevents.<id>,
                 loss.png; also an MLflow run with --mlflow-tracking-uri), result.json (which lists
                 debug_dataset.zip and dataset_report.json too; the report is written when preprocessing
                 ends, also when the dataset is rejected)
Failures end the job FAILED with a reason (billed 0): a storage volume too full for the next large write
(the storage guard, or the system's own "no space") is RESOURCE_EXHAUSTED, reason STORAGE_FULL. A cancel
request ends it CANCELLED at the next step boundary (billed 0: only a delivered LoRA is billed), with a
checkpoint of that step kept; while it is still preprocessing, its call to the preprocessor is cancelled.
A job trains on the base its request names (failures.job_base): one this replica does not host, or hosts
at another LTX version than the job recorded when it was created, fails it before anything runs.

Training writes a checkpoint every `checkpoint_every` steps, after the last step, and when it stops
early. When the service shuts down, the job stops at the next step boundary with a checkpoint and
records nothing more: the next start re-runs it (Job.resuming) from the dataset's caches and the
newest checkpoint, and the job's log drops what it already holds, so the steps continue in sequence.
A job that succeeds has its checkpoints deleted (its outputs are the result).

With --latent-cache-max-bytes, the job's latent cache entries are listed in jobs/<id>/latent_cache_refs
as it touches them (the evictor keeps what live jobs list); the file goes when the job ends.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path

import structlog
import torch

from shared.bundle import path_from_uri
from shared.bundle_ref import BundleRef
from shared.dataset_report import FileReport
from shared.disk_space import STORAGE_FULL, SpaceGuard
from train_svc.export import outputs
from train_svc.export.debug_dataset import write_debug_dataset
from train_svc.job_run.audio_decision import decide_audio
from train_svc.job_run.export_phase import ExportTarget, export_outputs
from train_svc.job_run.failures import BaseUnavailable, WorkersFailed, job_base, training_error
from train_svc.job_run.fence import write_fence
from train_svc.job_run.sample_encoding import SampleEncoders
from train_svc.job_run.settings import RunSettings
from train_svc.job_run.text_warnings import overlong_text_warnings
from train_svc.job_run.training_phase import TrainingPhase, Workers, train_phase
from train_svc.jobs.events import (
    ArtifactWritten,
    DatasetFailure,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    JobError,
    JobResumed,
    JobState,
    PreprocessEvent,
    SampleEncoded,
    SkippedFile,
    StateChanged,
)
from train_svc.jobs.job import Job
from train_svc.jobs.store_contract import LeaseLost
from train_svc.models.base_model import BaseModel
from train_svc.models.base_registry import BaseModels
from train_svc.models.device import Placement
from train_svc.training.checkpoint import Checkpoint, CheckpointError, latest_checkpoint
from train_svc.training.config import TrainConfig
from train_svc.training.latent_cache import LatentCache, model_identity
from train_svc.training.latent_eviction import IsLive, LatentEvictor, refs_path
from train_svc.training.trainer import TrainingSample, lora_file_names
from train_svc.validation.previews import encode_prompts
from train_svc.validation.renderer import EncodedPrompts

log = structlog.get_logger(__name__)

# Given a job, yields the preprocessor's events; closing the iterator abandons the preprocessing.
Preprocessor = Callable[[Job], Generator[PreprocessEvent, None, None]]


@dataclass(frozen=True)
class PreparedDataset:
    """The encoded dataset, in sample-id order: samples, their bundle files and latent cache entries."""

    samples: list[TrainingSample]
    bundle_files: list[Path]
    cache_files: list[Path]
    prompts: EncodedPrompts | None  # the validation prompts' Gemma states; None without prompts


@dataclass(frozen=True)
class RunnerConfig:
    storage_root: Path
    bases: BaseModels  # a job trains on the one its request names (job_base: hosted, at its recorded version)
    placement: Placement
    settings: RunSettings = RunSettings()  # the operator's: LoRA targets, seed, previews, checkpoints
    gradient_checkpointing: bool = True
    space: SpaceGuard = SpaceGuard()  # checked before every large write (latents, checkpoints, outputs)
    workers: Workers | None = None  # None: train in this process
    # Whether the job store has a job in a non-final state; the latent cache's bound keeps what such jobs
    # reference. None: every job that has references counts as live.
    live_job: IsLive | None = None


class JobCancelled(Exception):
    pass


class JobStopped(Exception):
    """The service is shutting down: the job stops where it is, to resume on the next start."""


class JobRunner:
    def __init__(self, config: RunnerConfig, preprocess: Preprocessor):
        self.config = config
        self._preprocess = preprocess
        bound = config.settings.latent_cache_max_bytes
        self._evictor = (
            LatentEvictor(config.storage_root, self._latent_root, bound, config.live_job or (lambda job_id: True))
            if bound
            else None
        )

    @property
    def _latent_root(self) -> Path:
        return self.config.storage_root / "cache" / "latents"

    def output_dir(self, job: Job) -> Path:
        return self.config.storage_root / "jobs" / job.id / "outputs"

    def checkpoint_dir(self, job: Job) -> Path:
        return self.config.storage_root / "jobs" / job.id / "checkpoints"

    def run(self, job: Job) -> None:
        bound = log.bind(job=job.id)
        try:
            if job.lease_token:  # before anything of the job's is written: a former holder's workers stop
                write_fence(self.config.storage_root / "jobs" / job.id, job.lease_token)
            base = job_base(self.config.bases, job.input_json.get("base_model", ""), job.base_version)
            resume = self._resume(job) if job.resuming else None
            dataset = self._prepare_dataset(job, base)
            debug = self._debug_dataset(job, dataset.bundle_files) if job.settings.debug_dataset else None
            lora, config = self._train(job, dataset, resume, base)
            self._export(job, lora, config, debug)
            job.record(StateChanged(JobState.SUCCEEDED, f"billed {job.settings.billable_units_on_success} units"))
            shutil.rmtree(self.checkpoint_dir(job), ignore_errors=True)
        except JobStopped:
            bound.info("job stopped for shutdown; it resumes on the next start", step=job.step)
        except LeaseLost as lost:  # nothing more is stored or written: the job is another replica's now
            bound.warning("job left to the replica that took it over", step=job.step, error=str(lost))
        except Exception as exc:
            if job.cancel_requested.is_set():  # whatever the cancel broke on its way (the preprocessing call)
                self._ended_by(job, JobCancelled())
            elif job.stop_requested.is_set():
                # Whatever broke while the service shut down (the preprocessor's stream closing, the
                # store closed): the job did not fail, it was interrupted, and resumes on the next start.
                bound.info("job interrupted by shutdown; it resumes on the next start", error=str(exc))
            else:
                self._ended_by(job, exc)
        if job.state.is_final:  # its latent cache entries may go now (a stopped job resumes with them)
            refs_path(self.config.storage_root, job.id).unlink(missing_ok=True)

    def _ended_by(self, job: Job, exc: Exception) -> None:
        """Record how a job that raised `exc` ended."""
        if isinstance(exc, JobCancelled):
            kept = f"; its checkpoint at step {job.checkpoints[-1].step} is kept" if job.checkpoints else ""
            job.record(StateChanged(JobState.CANCELLED, f"cancelled by request at step {job.step}{kept}; billed 0"))
        elif isinstance(exc, DatasetFailure | WorkersFailed | BaseUnavailable):
            self._fail(job, exc.error)
        elif (error := training_error(exc)) is not None:
            if error.reason == STORAGE_FULL:
                log.error("job failed: storage full", job=job.id, error=str(exc))
            self._fail(job, error)
        else:  # a bug or an environment fault: report it on the job, keep serving
            log.error("job failed", job=job.id, exc_info=exc)
            self._fail(job, JobError("INTERNAL", "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def _fail(job: Job, error: JobError) -> None:
        job.record(StateChanged(JobState.FAILED, error.message, error))

    def _check_cancel(self, job: Job) -> None:
        if job.cancel_requested.is_set():
            raise JobCancelled()
        if job.stop_requested.is_set():
            raise JobStopped()

    def _resume(self, job: Job) -> Checkpoint | None:
        """Announce that the job picks up again after a restart; return the checkpoint it continues from."""
        checkpoint = latest_checkpoint(self.checkpoint_dir(job))
        from_step = checkpoint.step if checkpoint is not None else 0
        if job.dataset_ready is None:
            where = "preprocessing starts over"
        elif from_step:
            where = f"training continues after step {from_step}"
        else:
            where = "training starts over"
        repeated = (
            f"; steps {from_step + 1}-{job.step} are trained again, not recorded twice" if job.step > from_step else ""
        )
        message = f"the service restarted while the job was {job.state.value}: {where}{repeated}"
        job.record(JobResumed(from_step, job.step, message))
        log.info("job resuming", job=job.id, from_step=from_step, last_step=job.step, state=job.state.value)
        return checkpoint

    def _encoders(self, job: Job, base: BaseModel) -> SampleEncoders:
        model = base.path
        cache = LatentCache(
            self._latent_root,
            model_identity(model, self.config.placement),
            job.owner,
            self.config.space,
            references=self._evictor.references(job.id) if self._evictor is not None else None,
            evictor=self._evictor,
        )
        return SampleEncoders(model, self.config.placement, audio=job.settings.with_audio is not False, cache=cache)

    def _encode(self, job: Job, encoders: SampleEncoders, bundle: BundleRef) -> TrainingSample:
        sample, cached = encoders.encode(bundle)
        job.record(SampleEncoded(bundle, sample.latents.num_tokens, from_cache=cached))
        return sample

    def _prepare_dataset(self, job: Job, base: BaseModel) -> PreparedDataset:
        """Encode every bundle (and the validation prompts) with `base`'s encoders and decide on audio."""
        self._check_cancel(job)
        job.record(StateChanged(JobState.PREPROCESSING, "fetching and preprocessing the dataset"))
        encoders = self._encoders(job, base)
        try:
            if job.dataset_ready is not None:  # resumed after the dataset was complete: rebuild it from the log
                ready = job.dataset_ready
                bundles = [encoded.bundle for encoded in job.bundles]
                samples = [encoders.encode(bundle)[0] for bundle in bundles]
            else:
                ready, samples, bundles = self._preprocess_and_encode(job, encoders)
            prompts = encode_prompts(job.settings, encoders.prompt_states) if samples else None
        finally:
            encoders.close()
        if not samples:
            raise DatasetFailure(JobError("FAILED_PRECONDITION", "NO_SAMPLES", "the dataset produced no samples"))
        job.record(ready)
        for warning in overlong_text_warnings(base.path, bundles, job.settings.validation):
            job.record(warning)
        decision = decide_audio(job.settings.with_audio, bundles, images=ready.media_kind == "image")
        for warning in decision.warnings():
            job.record(warning)
        job.with_audio = decision.train_audio
        job.training_mode = decision.describe()
        if not decision.train_audio:
            samples = [replace(s, audio=None) for s in samples]
        # Arrival order depends on worker timing; training order must depend only on the seed.
        by_id = sorted(bundles, key=lambda b: b.sample_id)
        return PreparedDataset(
            sorted(samples, key=lambda s: s.sample_id),
            [path_from_uri(b.uri) for b in by_id],
            [encoders.cache_file(b) for b in by_id],
            prompts,
        )

    def _preprocess_and_encode(
        self, job: Job, encoders: SampleEncoders
    ) -> tuple[DatasetReady, list[TrainingSample], list[BundleRef]]:
        """Follow the preprocessor's stream, encoding each bundle as it arrives."""
        events = self._preprocess(job)
        samples: list[TrainingSample] = []
        bundles: list[BundleRef] = []
        ready = None
        try:
            for event in events:
                self._check_cancel(job)
                if isinstance(event, BundleRef):
                    samples.append(self._encode(job, encoders, event))
                    bundles.append(event)
                elif isinstance(event, DatasetProgress | SkippedFile | DatasetWarning | FileReport):
                    job.record(event)
                elif isinstance(event, DatasetReady):
                    ready = event
                    log.info("dataset ready", job=job.id, samples=event.samples, cached=event.from_cache)
        finally:
            events.close()
            # Also when the dataset was rejected: it says why, file by file. Not when the service is
            # stopping: the report is incomplete, and the resumed job writes the whole one.
            if job.file_reports and not job.stop_requested.is_set():
                self._write_dataset_report(job)
        return ready or DatasetReady("video", len(samples), 0), samples, bundles

    def _written(self, job: Job, name: str) -> outputs.OutputFile | None:
        """An output this job wrote before a restart (it is kept, never written again), if any."""
        artifact = job.artifacts.get(name)
        path = self.output_dir(job) / Path(path_from_uri(artifact.uri)).name if artifact is not None else None
        return outputs.describe(path) if path is not None and path.is_file() else None

    def _write_dataset_report(self, job: Job) -> None:
        if self._written(job, "dataset_report") is not None:
            return
        out = self.output_dir(job)
        out.mkdir(parents=True, exist_ok=True)
        report = outputs.write_json(out / outputs.DATASET_REPORT_FILE, job.dataset_report.to_json_dict())
        job.record(ArtifactWritten("dataset_report", report.uri, report.sha256, report.size_bytes))

    def _debug_dataset(self, job: Job, bundles: list[Path]) -> outputs.OutputFile:
        """The samples as trained, viewable, announced at once so a user can check them before training."""
        self._check_cancel(job)
        if (done := self._written(job, "debug_dataset")) is not None:
            return done
        out = self.output_dir(job)
        self.config.space.check(out, sum(path.stat().st_size for path in bundles))
        debug = outputs.describe(write_debug_dataset(out / outputs.DEBUG_DATASET_FILE, bundles))
        job.record(ArtifactWritten("debug_dataset", debug.uri, debug.sha256, debug.size_bytes))
        return debug

    def _train(
        self, job: Job, dataset: PreparedDataset, resume: Checkpoint | None, base: BaseModel
    ) -> tuple[dict[str, torch.Tensor], TrainConfig]:
        """Train a LoRA of `base` here or on the training workers; return its weights (LoRA file names) and config."""
        settings, run = job.settings, self.config.settings
        job.record(
            StateChanged(
                JobState.TRAINING,
                f"training on {len(dataset.samples)} samples, {job.training_mode}",
                with_audio=job.with_audio,
                training_mode=job.training_mode,
            )
        )
        phase = TrainingPhase(
            job_id=job.id,
            model_path=base.path,
            config=TrainConfig(
                rank=settings.rank,
                learning_rate=settings.learning_rate,
                steps=settings.number_of_steps,
                batch_size=settings.batch_size,
                seed=run.seed,
                gradient_checkpointing=self.config.gradient_checkpointing,
                feed_forward=run.feed_forward,
                audio=bool(job.with_audio),
            ),
            settings=settings,
            preview_steps=run.preview_steps,
            preview_seed=run.seed,
            checkpoint_dir=self.checkpoint_dir(job),
            checkpoint_every=run.checkpoint_every,
            checkpoint_keep=run.checkpoint_keep,
            output_dir=self.output_dir(job),
            min_free_bytes=self.config.space.min_free_bytes,
            previews_done=frozenset((preview.step, preview.prompt_index) for preview in job.previews),
        )
        if self.config.workers is not None:
            self.config.workers.train(job, phase, dataset.cache_files, dataset.prompts)
            self._check_cancel(job)
            final = latest_checkpoint(phase.checkpoint_dir)
            if final is None or final.step != phase.config.steps:
                raise CheckpointError(f"the training workers left no checkpoint of step {phase.config.steps}")
            return lora_file_names(final.lora), final.config
        trainer, _ = train_phase(
            phase,
            self.config.placement,
            dataset.samples,
            dataset.prompts,
            resume,
            record=job.record,
            should_stop=lambda: job.should_stop,
            fence=job.fence,
        )
        self._check_cancel(job)
        return trainer.lora_state_dict(), trainer.config

    def _export(
        self, job: Job, lora_state: dict[str, torch.Tensor], cfg: TrainConfig, debug: outputs.OutputFile | None
    ) -> None:
        target = ExportTarget(
            self.output_dir(job), self.config.placement, self.config.space, self.config.settings.mlflow_tracking_uri
        )
        export_outputs(job, lora_state, cfg, debug, target)
