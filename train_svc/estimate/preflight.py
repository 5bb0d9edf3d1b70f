"""The estimate of one request, as the CLI (`ltx-trainer estimate`) and the service (EstimateTrainingJob)
both make it: the request's bucket, optionally resized, under the service's memory settings."""

from __future__ import annotations

from dataclasses import dataclass

from train_svc.estimate.estimator import Estimate, Estimator
from train_svc.estimate.gpus import gpu_named
from train_svc.estimate.job_shape import JobShape, MemoryPlan
from train_svc.estimate.model_spec import ModelSpec

DEFAULT_GPU = "h100"
BASE_WEIGHTS = ("bf16", "int8", "fp8")  # on a GPU; fp32 is the CPU's
SIZE_LIMITS = {"width": (64, 4096), "height": (64, 4096), "frames": (9, 1025)}


@dataclass(frozen=True)
class PreflightQuestion:
    gpu: str = DEFAULT_GPU
    base_weights: str | None = None  # None: the service's (or the CLI's default, bf16)
    width: int | None = None
    height: int | None = None
    frames: int | None = None


def check_question(question: PreflightQuestion, spatial: int = 32, temporal: int = 8) -> dict[str, str]:
    """Problems by field name (empty when the question is valid)."""
    problems: dict[str, str] = {}
    try:
        gpu_named(question.gpu)
    except ValueError as exc:
        problems["gpu"] = str(exc)
    if question.base_weights is not None and question.base_weights not in BASE_WEIGHTS:
        problems["base_weights"] = f"must be one of {', '.join(BASE_WEIGHTS)} (got {question.base_weights!r})"
    for name, (low, high) in SIZE_LIMITS.items():
        value = getattr(question, name)
        if value is None:
            continue
        step, offset = (temporal, 1) if name == "frames" else (spatial, 0)
        if not low <= value <= high or (value - offset) % step:
            form = f"{step}k+1" if name == "frames" else f"a multiple of {step}"
            problems[name] = f"must be {form} in {low}..{high} (got {value})"
    return problems


def preflight(spec: ModelSpec, shape: JobShape, plan: MemoryPlan, question: PreflightQuestion) -> Estimate:
    """The estimate of `shape` (resized as asked) on the asked GPU under `plan` (its base weights as asked)."""
    if problems := check_question(question):
        raise ValueError("; ".join(f"{name}: {why}" for name, why in problems.items()))
    gpu = gpu_named(question.gpu)
    if question.base_weights is not None:
        plan = MemoryPlan(question.base_weights, plan.compute, plan.gradient_checkpointing, plan.offload_blocks)
    return Estimator(spec).estimate(shape.resized(question.width, question.height, question.frames), plan, gpu)


def gpu_plan(precision: str, base_weights: str, gradient_checkpointing: bool, offload_blocks: int) -> MemoryPlan:
    """The memory plan the service's settings give on a GPU: auto precision is bf16 there, and auto base
    weights follow the precision."""
    compute = "bf16" if precision == "auto" else precision
    stored = compute if base_weights == "auto" else base_weights
    return MemoryPlan(stored, compute, gradient_checkpointing, offload_blocks)
