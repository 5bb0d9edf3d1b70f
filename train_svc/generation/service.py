"""Generation as a service: one pipeline per process, runs in a worker thread, events relayed to asyncio.

A run waits for the pipeline (one generation at a time: it holds one set of LoRA weights) and then for an
accelerator slot (shared with training jobs), samples with a step callback that also notices a caller who
went away, writes the mp4 atomically under the generation's folder and ends with a preview frame and the
result. An abandoned run stops at the next step and leaves no file behind; a failed one becomes a
DomainError, and the service keeps serving.

The pipeline is loaded by the first generation and kept for the next ones; after `idle_seconds`
(--pipeline-idle-seconds) without a generation, and with none waiting for it, it is dropped and its
memory returned (host heap trimmed, CUDA cache emptied): the next generation loads it again.

A generation runs on the base its order names (an id of the hosted `BaseModels`), else on the base its job
trained on, else on the default base. At most one pipeline is loaded: a generation on another base than the
loaded one drops it (its memory returned as above) before loading its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import structlog
import torch

from shared.auth import Caller
from shared.bundle import path_from_uri
from shared.disk_space import NO_RESERVE, SpaceGuard, StorageFull
from shared.request.errors import DomainError, ErrorCode
from train_svc.accelerator import AcceleratorSlots, WaitAbandoned, held
from train_svc.export.outputs import OutputFile, describe
from train_svc.generation.generator import Generator
from train_svc.generation.lora_check import LoraFileError, LoraVersionMismatch
from train_svc.generation.mp4 import write_mp4
from train_svc.generation.order import GenerationOrder
from train_svc.generation.preview import middle_frame_jpeg
from train_svc.generation.request import GenerationRequest
from train_svc.generation.settings import DEFAULT_PIPELINE_IDLE_SECONDS
from train_svc.generation.store import GenerationStore
from train_svc.jobs.events import FilePart, JobState
from train_svc.jobs.job import Job
from train_svc.lora_tools.version_fit import LoraFit
from train_svc.models.base_model import BaseModel
from train_svc.models.base_registry import BaseModels
from train_svc.models.device import Placement
from train_svc.models.host_memory import return_memory, rss_bytes

log = structlog.get_logger(__name__)

RUNNERS = 4  # generation threads: one samples, the others wait for the pipeline or encode an mp4
_DONE = object()
_TIMER_SLACK_S = 0.05  # a release timer that wakes this much early still releases


@dataclass(frozen=True)
class GenerationProgress:
    stage: str  # "queued", "loading", "sampling", "encoding"
    step: int = 0
    total_steps: int = 0


@dataclass(frozen=True)
class GenerationPreview:
    jpeg: bytes


@dataclass(frozen=True)
class GenerationFinished:
    name: str  # "generations/{id}"
    video: OutputFile
    seed: int
    seconds: float
    base_model: str  # the id of the base it was generated with
    ltx_version: str  # that base's
    lora_fit: LoraFit | None = None  # set when the LoRA was made for another LTX version (allowed by the request)


GenerationEvent = GenerationProgress | GenerationPreview | GenerationFinished


class LoraMismatch(DomainError):
    def __init__(self, message: str):
        super().__init__(ErrorCode.FAILED_PRECONDITION, "LORA_MISMATCH", message)


class JobNotFinished(DomainError):
    def __init__(self, job: Job):
        message = f"training job {job.name} is {job.state.value}: only a SUCCEEDED job has a LoRA to generate with"
        super().__init__(ErrorCode.FAILED_PRECONDITION, "JOB_NOT_FINISHED", message, {"name": job.name})


class LoraExpired(DomainError):
    def __init__(self, job: Job):
        message = f"the LoRA of training job {job.name} has expired: the service's retention removed its outputs"
        super().__init__(ErrorCode.FAILED_PRECONDITION, "ARTIFACT_EXPIRED", message, {"name": job.name})


class JobBaseNotHosted(DomainError):
    def __init__(self, job: Job, base_id: str, hosted: list[str]):
        message = (
            f"training job {job.name} trained on base model {base_id!r}, which this service does not host "
            f"(it hosts {', '.join(hosted)}): name one of those in base_model"
        )
        super().__init__(
            ErrorCode.FAILED_PRECONDITION, "BASE_MODEL_NOT_HOSTED", message, {"name": job.name, "base_model": base_id}
        )


class GenerationFailed(DomainError):
    def __init__(self, exc: BaseException):
        out_of_memory = isinstance(exc, torch.OutOfMemoryError | MemoryError) or "out of memory" in str(exc).lower()
        reason = "OUT_OF_MEMORY" if out_of_memory else "GENERATION_FAILED"
        super().__init__(ErrorCode.INTERNAL, reason, f"generation failed: {type(exc).__name__}: {exc}")


class _Abandoned(Exception):
    pass


class _Run:
    """One generation's shared state between the caller's coroutine and the worker thread."""

    def __init__(self, generation_id: str, owner: str, store: GenerationStore):
        self.id = generation_id
        self.owner = owner
        self.abandoned = threading.Event()
        self._store = store
        self._lock = threading.Lock()
        self._committed = False

    def check(self) -> None:
        if self.abandoned.is_set():
            raise _Abandoned()

    def commit(self) -> None:
        """The video is complete: from now on only `abandon` removes it."""
        with self._lock:
            self.check()
            self._committed = True

    def abandon(self) -> None:
        with self._lock:
            self.abandoned.set()
            if self._committed:
                self._store.discard(self.owner, self.id)


class GenerationService:
    def __init__(
        self,
        storage_root: Path,
        bases: BaseModels,
        placement: Placement,
        slots: AcceleratorSlots,
        find_job: Callable[[str, Caller], Job],
        space: SpaceGuard = NO_RESERVE,
        idle_seconds: float = DEFAULT_PIPELINE_IDLE_SECONDS,
    ):
        """`idle_seconds`: the pipeline is dropped after this long without a generation (0: after each)."""
        self.store = GenerationStore(storage_root)
        # names the service a line comes from where several log to one stream (each has its own store)
        self._log = log.bind(generations=str(self.store.root))
        self._space = space
        self._bases = bases
        self._placement = placement
        self._slots = slots
        self._find_job = find_job
        self._pipeline_lock = threading.Lock()  # held while the pipeline is loaded or sampling
        # loaded on first use, kept until idle for idle_seconds or until a generation wants another base
        self._generator: Generator | None = None
        self._idle_seconds = idle_seconds
        self._idle = threading.Lock()  # guards the four below
        self._held_bytes = 0  # the loaded pipeline's parameter bytes, until a release has returned them
        self._wanting = 0  # runs waiting for the pipeline or on it
        self._last_used = time.monotonic()
        self._release_timer: threading.Timer | None = None
        self._runs: set[_Run] = set()
        self._executor = ThreadPoolExecutor(max_workers=RUNNERS, thread_name_prefix="generation")

    def _finished_job(self, name: str, caller: Caller) -> Job:
        job = self._find_job(name, caller)
        if job.state is not JobState.SUCCEEDED or "lora_file" not in job.artifacts:
            raise JobNotFinished(job)
        if FilePart.OUTPUTS in job.files_removed:
            raise LoraExpired(job)
        return job

    def _job_base(self, job: Job) -> str:
        """The id of the base `job` trained on ("" for a job stored before ids: the default), if hosted."""
        base_id = str(job.input_json.get("base_model") or "")
        if base_id and base_id not in self._bases.ids:
            raise JobBaseNotHosted(job, base_id, self._bases.ids)
        return base_id

    async def generate(self, order: GenerationOrder, caller: Caller) -> AsyncIterator[GenerationEvent]:
        """Progress, then a preview and the result; raises a DomainError when the generation fails.
        The generation belongs to `caller`; a job named by the order must be one it may see. An order's
        base id must be hosted (UnknownBaseModel otherwise: the API checks it with the request's fields)."""
        request, base_id = order.request, order.base_model
        if order.job is not None:
            job = self._finished_job(order.job, caller)
            request = replace(request, lora_path=path_from_uri(job.artifacts["lora_file"].uri))
            base_id = base_id or self._job_base(job)
        base_id = base_id or self._bases.default_id
        base = self._bases.get(base_id)
        run = _Run(self.store.new_id(), caller.principal, self.store)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def emit(item: object) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, item)

        yield GenerationProgress("queued", 0, request.steps)
        self._runs.add(run)
        future = self._executor.submit(self._run, run, request, base_id, base, emit)
        delivered = False
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                delivered = isinstance(item, GenerationFinished)
                yield item
        finally:
            if not delivered:
                future.cancel()
                run.abandon()
            self._runs.discard(run)

    def pipeline_bytes(self) -> int:
        """The loaded pipeline's parameter and buffer bytes; 0 once a release has returned its memory."""
        return self._held_bytes

    def _want_pipeline(self) -> None:
        with self._idle:
            self._wanting += 1

    def _done_with_pipeline(self) -> None:
        """A run is past the pipeline: once nobody wants it, it is dropped after idle_seconds."""
        with self._idle:
            self._wanting -= 1
            self._last_used = time.monotonic()
            if self._release_timer is not None:
                self._release_timer.cancel()
                self._release_timer = None
            if self._wanting == 0 and self._generator is not None:
                self._release_timer = threading.Timer(self._idle_seconds, self._release_if_idle)
                self._release_timer.daemon = True
                self._release_timer.start()

    def _release_if_idle(self) -> None:
        with self._idle:
            idle = time.monotonic() - self._last_used
            if self._wanting or self._generator is None or idle + _TIMER_SLACK_S < self._idle_seconds:
                return  # in use again, or used since this timer was armed (that run armed another)
            # Nobody holds or waits for the pipeline lock: a run that comes now waits for _idle, then loads.
            generator, self._generator = self._generator, None
            self._release_timer = None
        parameter_bytes = generator.parameter_bytes
        before = rss_bytes()
        del generator
        return_memory()
        with self._idle:
            if self._generator is None:  # not loaded again meanwhile
                self._held_bytes = 0
        self._log.info(
            "generation pipeline released",
            idle_seconds=round(idle, 1),
            parameter_bytes=parameter_bytes,
            rss_bytes_before=before,
            rss_bytes_after=rss_bytes(),
        )

    def _drop_other_base(self, base: BaseModel) -> None:
        """Drop the loaded pipeline if it is not `base`'s (the caller holds the pipeline lock)."""
        with self._idle:
            generator = self._generator
            if generator is None or generator.base_model == base:
                return
            self._generator, self._held_bytes = None, 0
        dropped, parameter_bytes, before = generator.base_model.name, generator.parameter_bytes, rss_bytes()
        del generator
        return_memory()
        self._log.info(
            "generation pipeline released",
            for_base=base.name,
            base_model=dropped,
            parameter_bytes=parameter_bytes,
            rss_bytes_before=before,
            rss_bytes_after=rss_bytes(),
        )

    def _loaded(self, emit: Callable[[object], None], steps: int, base: BaseModel) -> Generator:
        emit(GenerationProgress("loading", 0, steps))
        self._drop_other_base(base)
        generator = self._generator
        if generator is None:
            generator = Generator(base, self._placement)
            with self._idle:
                self._generator, self._held_bytes = generator, generator.parameter_bytes
        return generator

    def _run(
        self, run: _Run, request: GenerationRequest, base_id: str, base: BaseModel, emit: Callable[[object], None]
    ) -> None:
        bound = self._log.bind(generation=run.id)
        started = time.perf_counter()

        def on_step(step: int, total: int) -> None:
            run.check()  # raised through the pipeline: sampling stops at this step
            emit(GenerationProgress("sampling", step, total))

        try:
            self._want_pipeline()
            try:
                with held(self._pipeline_lock, run.abandoned.is_set), self._slots.hold(run.abandoned.is_set):
                    run.check()
                    video = self._loaded(emit, request.steps, base).generate(request, on_step=on_step)
            finally:
                self._done_with_pipeline()
            run.check()
            emit(GenerationProgress("encoding", request.steps, request.steps))
            self._space.check(self.store.root, video.frames.nbytes // 10)  # H.264 is far smaller than raw frames
            path = write_mp4(
                self.store.video_path(run.owner, run.id), video.frames, video.frame_rate, video.audio, video.sample_rate
            )
            written, preview = describe(path), middle_frame_jpeg(video.frames)
            run.commit()
            emit(GenerationPreview(preview))
            seconds = time.perf_counter() - started
            name = self.store.name(run.id)
            emit(GenerationFinished(name, written, request.seed, seconds, base_id, base.version, video.lora_fit))
            bound.info("generation written", path=str(path), seconds=round(seconds, 2))
        except (_Abandoned, WaitAbandoned):
            self.store.discard(run.owner, run.id)
            bound.info("generation abandoned by its caller")
        except LoraFileError as exc:
            self.store.discard(run.owner, run.id)
            emit(LoraMismatch(str(exc)))
        except (LoraVersionMismatch, StorageFull) as exc:
            self.store.discard(run.owner, run.id)
            emit(exc)
        except Exception as exc:  # out of memory, a bad model file, a full disk: this request fails, not the service
            self.store.discard(run.owner, run.id)
            bound.exception("generation failed")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            emit(GenerationFailed(exc))
        finally:
            emit(_DONE)

    def shutdown(self) -> None:
        for run in list(self._runs):
            run.abandon()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._idle:
            if self._release_timer is not None:
                self._release_timer.cancel()
