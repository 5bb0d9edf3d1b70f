"""EstimateTrainingJob's side of the wire: the request checked as a whole, the service's estimate of it, and
the estimate as the response message.

The input is checked by the rules CreateTrainingJob applies (shared.request.validate), except that
training_data_url is not required (an estimate fetches nothing); every bad field, of the input and of the
question, is in one InvalidRequest, named as in the API: "gpu", "width", "input.rank". The estimate is of the
base the input names (input.base_model; unset: the default), one of those the service hosts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from google.protobuf.message import Message

from shared.api import training_service_pb2 as pb
from shared.request.errors import DomainError, ErrorCode, FieldViolation, InvalidRequest
from shared.request.settings import TrainingSettings
from shared.request.validate import resolve
from train_svc.api.base_models import unknown_base
from train_svc.estimate.estimator import Estimate
from train_svc.estimate.job_shape import JobShape, MemoryPlan
from train_svc.estimate.model_spec import ModelSpec
from train_svc.estimate.preflight import DEFAULT_GPU, PreflightQuestion, check_question, preflight
from train_svc.models.base_registry import BaseModels

REASON = "INVALID_ESTIMATE_REQUEST"
# Estimates admitted at once (running and waiting); more are refused at once rather than queued without bound.
MAX_PENDING_ESTIMATES = 4


@dataclass(frozen=True)
class EstimateOrder:
    settings: TrainingSettings
    question: PreflightQuestion
    base_id: str  # the hosted base it is about


def estimate_order(message: pb.EstimateTrainingJobRequest, bases: BaseModels) -> EstimateOrder:
    """Check every field; raise InvalidRequest listing all problems."""
    violations: list[FieldViolation] = []
    settings = None
    try:
        settings = resolve(message.input, url_required=False)
    except InvalidRequest as err:
        violations += [
            FieldViolation(f"input.{v.field}" if v.field else "input", v.description) for v in err.violations
        ]
    fields: Message = message  # HasField by a name computed at run time

    def optional(name: str) -> int | None:
        return getattr(message, name) if fields.HasField(name) else None

    question = PreflightQuestion(
        gpu=message.gpu or DEFAULT_GPU,
        base_weights=message.base_weights or None,
        width=optional("width"),
        height=optional("height"),
        frames=optional("frames"),
    )
    violations += [FieldViolation(name, problem) for name, problem in check_question(question).items()]
    unknown = unknown_base(bases, message.input.base_model, "input.base_model")
    if unknown is not None and unknown.field not in {v.field for v in violations}:
        violations.append(unknown)
    if violations or settings is None:
        raise InvalidRequest(violations, reason=REASON)
    return EstimateOrder(settings, question, message.input.base_model or bases.default_id)


class ServiceEstimates:
    """The service's estimates: its base models (by id), its memory settings, its LoRA targets, preview steps and
    world size (a request without batch_size gets it, as CreateTrainingJob resolves it). Estimates run one
    at a time on a thread of their own: the first of a bucket traces the step for seconds, and it neither
    blocks the event loop nor takes the threads other calls' blocking work runs on. At most
    MAX_PENDING_ESTIMATES are admitted at once; the next is RESOURCE_EXHAUSTED (ESTIMATES_BUSY)."""

    def __init__(
        self,
        specs: Mapping[str, ModelSpec],
        plan: MemoryPlan,
        *,
        feed_forward: bool,
        preview_steps: int,
        world_size: int,
    ):
        self.specs = dict(specs)
        self.plan = plan
        self.feed_forward = feed_forward
        self.preview_steps = preview_steps
        self.world_size = world_size
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="estimate")
        self._pending = 0  # touched only on the event loop

    def estimate_now(self, order: EstimateOrder) -> Estimate:
        """The estimate, in the calling thread."""
        shape = JobShape.of_settings(
            order.settings, feed_forward=self.feed_forward, preview_steps=self.preview_steps, world_size=self.world_size
        )
        return preflight(self.specs[order.base_id], shape, self.plan, order.question)

    async def estimate(self, order: EstimateOrder) -> Estimate:
        if self._pending >= MAX_PENDING_ESTIMATES:
            raise DomainError(
                ErrorCode.RESOURCE_EXHAUSTED,
                "ESTIMATES_BUSY",
                f"{self._pending} estimates are being made; ask again in a few seconds",
                {"max_pending": str(MAX_PENDING_ESTIMATES)},
            )
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self.estimate_now, order)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


def estimate_response(estimate: Estimate) -> pb.EstimateTrainingJobResponse:
    return pb.EstimateTrainingJobResponse(
        model=estimate.model,
        gpu=estimate.gpu,
        memory_bytes=estimate.memory_bytes,
        settings=estimate.settings,
        peak_memory_bytes=estimate.peak_memory_bytes,
        parts=pb.MemoryParts(**estimate.parts),
        training_peak_bytes=estimate.training_peak_bytes,
        encoding_peak_bytes=estimate.encoding_peak_bytes,
        fits=estimate.fits,
        seconds_per_step=estimate.seconds_per_step,
        total_seconds=estimate.total_seconds,
        billable_units=estimate.billable_units,
        tokens_per_sample=estimate.tokens_per_sample,
        flops_per_step=estimate.flops_per_step,
        gpus=[pb.GpuEstimate(**asdict(gpu)) for gpu in estimate.gpus],
        suggestions=[pb.FitSuggestion(**asdict(suggestion)) for suggestion in estimate.suggestions],
    )
