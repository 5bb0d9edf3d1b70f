"""The pre-flight estimate of a training job: peak device memory by part, time per step and in total,
billable units, whether it fits a GPU, and which settings would make it fit.

Memory, at the training step's peak (the service trains one sample at a time, so batch size changes time,
not memory):
  base_weights        the frozen transformer as stored (bf16, or int8/fp8 block linears with their scales),
                      less the offloaded blocks' weights plus the one block streamed in at a time
  lora_and_optimizer  the float32 LoRA, its gradients and AdamW's two moments: 16 bytes per parameter
  activations         what the step's forward and backward hold at their peak (step_trace: traced on the meta
                      device at 2 and 3 blocks, scaled to the model's depth), less the LoRA gradients
  encoders            the preview helpers (video and audio VAEs, vocoder, text connectors, and LTX-2.5's
                      diffusion decoder where the base has one), on the device while a preview renders,
                      when the job has validation prompts
  workspace           on a GPU: 1 GiB (CUDA context, cuBLAS workspace) plus 5% of activations and optimizer
                      state for the allocator's fragmentation; nothing on the CPU
Before training, the dataset is encoded with the text encoder, the connectors and the VAEs on the device
(the encoding phase); the peak is the larger of the two phases.
Time: the traced operations per sample (with checkpointing, the blocks' forward twice) over the GPU's
rate (gpus.py), plus, with offload, the offloaded weights' trip over the host link twice per sample;
previews add their denoising passes (4 forward passes of the transformer per step: the batched
guidance pair, STG and modality isolation).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, replace

import torch

from train_svc.estimate.gpus import GPUS, Gpu
from train_svc.estimate.job_shape import JobShape, MemoryPlan
from train_svc.estimate.model_spec import ModelSpec
from train_svc.estimate.step_trace import StepTrace, TraceInput, trace_step

GIB = 1 << 30
CUDA_WORKSPACE_BYTES = GIB
FRAGMENTATION = 0.05
LORA_BYTES_PER_PARAMETER = 16  # float32 weight, gradient and AdamW's two moments
PREVIEW_PASSES_PER_STEP = 4
_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
PARTS = ("base_weights", "lora_and_optimizer", "activations", "encoders", "workspace")


@dataclass(frozen=True)
class GpuTime:
    gpu: str
    fits: bool
    peak_memory_bytes: int
    seconds_per_step: float
    total_seconds: float


@dataclass(frozen=True)
class Suggestion:
    settings: str  # the service flags, e.g. "--base-weights int8 --offload-blocks 8"
    peak_memory_bytes: int
    seconds_per_step: float


@dataclass(frozen=True)
class Estimate:
    model: str
    gpu: str
    memory_bytes: int  # the GPU's (0 for a CPU prediction)
    settings: str
    peak_memory_bytes: int
    parts: dict[str, int]  # the training peak by part (PARTS)
    training_peak_bytes: int
    encoding_peak_bytes: int
    fits: bool
    seconds_per_step: float
    total_seconds: float
    billable_units: int
    tokens_per_sample: int  # video + audio tokens of one sample
    flops_per_step: int
    gpus: list[GpuTime] = field(default_factory=list)  # the same job on every known GPU
    suggestions: list[Suggestion] = field(default_factory=list)  # settings that make it fit, fastest first

    def as_json(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=64)
def _traced(spec: ModelSpec, trace: TraceInput) -> StepTrace:
    """The step at the model's depth, from traces at 2 and 3 blocks (the first block's recomputation peaks
    differently from the others', so 1 block is not used)."""
    config = spec.configs["transformer"]
    return trace_step(config, trace, 2).extrapolated(trace_step(config, trace, 3), spec.blocks - 1)


class Estimator:
    def __init__(self, spec: ModelSpec):
        self.spec = spec

    def _trace(self, shape: JobShape, plan: MemoryPlan, size: tuple[int, int, int], audio_tokens: int) -> StepTrace:
        temporal, spatial = self.spec.compression
        width, height, frames = size
        trace = TraceInput(
            latent_grid=((frames - 1) // temporal + 1, height // spatial, width // spatial),
            fps=shape.frame_rate,
            audio_tokens=audio_tokens,
            rank=shape.rank,
            feed_forward=shape.feed_forward,
            gradient_checkpointing=plan.gradient_checkpointing,
            dtype=_DTYPES[plan.compute],
        )
        return _traced(self.spec, trace)

    def memory(self, shape: JobShape, plan: MemoryPlan, *, on_gpu: bool) -> tuple[dict[str, int], int, StepTrace]:
        """(the training peak by part, the encoding phase's peak, the step's trace)."""
        spec, compute = self.spec, plan.compute
        trace = self._trace(shape, plan, (shape.width, shape.height, shape.frames), shape.audio_tokens)
        base, largest_block = spec.base_bytes(plan.base_weights, compute)
        if plan.offload_blocks:  # every block has the same shapes; one is on the device while it runs
            base -= (plan.offload_blocks - 1) * largest_block
        lora = spec.lora_parameters(shape.rank, audio=shape.with_audio, feed_forward=shape.feed_forward)
        bytes_per = 2 if compute == "bf16" else 4
        parts = {
            "base_weights": base,
            "lora_and_optimizer": lora * LORA_BYTES_PER_PARAMETER,
            "activations": trace.peak_bytes - trace.lora_gradient_bytes,
            "encoders": sum(map(spec.parameters, spec.preview_helpers)) * bytes_per if shape.validation_prompts else 0,
            "workspace": 0,
        }
        encoders = ("text_encoder", "connectors", "vae") + (("audio_vae",) if shape.with_audio else ())
        encoding = sum(spec.parameters(c) for c in encoders) * bytes_per
        if on_gpu:
            slack = int(FRAGMENTATION * (parts["activations"] + parts["lora_and_optimizer"]))
            parts["workspace"] = CUDA_WORKSPACE_BYTES + slack
            encoding += CUDA_WORKSPACE_BYTES
        return parts, encoding, trace

    def estimate(self, shape: JobShape, plan: MemoryPlan, gpu: Gpu | None, *, suggest: bool = True) -> Estimate:
        """The estimate on `gpu` (None: a prediction for this CPU, with no workspace and no timing)."""
        parts, encoding, trace = self.memory(shape, plan, on_gpu=gpu is not None)
        training = sum(parts.values())
        peak = max(training, encoding)
        flops = (trace.forward_flops + trace.backward_flops) * shape.batch_size
        timings = [self._timing(shape, plan, other, trace, peak) for other in GPUS.values()] if gpu else []
        mine = next((t for t in timings if gpu is not None and t.gpu == gpu.name), None)
        fits = mine is not None and mine.fits  # the GPU's own verdict: fp8 weights need one that runs them
        return Estimate(
            model=self.spec.name,
            gpu=gpu.name if gpu else "cpu",
            memory_bytes=gpu.memory_bytes if gpu else 0,
            settings=plan.describe(),
            peak_memory_bytes=peak,
            parts=parts,
            training_peak_bytes=training,
            encoding_peak_bytes=encoding,
            fits=fits,
            seconds_per_step=mine.seconds_per_step if mine else 0.0,
            total_seconds=mine.total_seconds if mine else 0.0,
            billable_units=shape.billable_units,
            tokens_per_sample=self._tokens(shape),
            flops_per_step=flops,
            gpus=timings,
            suggestions=self._suggestions(shape, plan, gpu) if gpu is not None and suggest and not fits else [],
        )

    def _tokens(self, shape: JobShape) -> int:
        temporal, spatial = self.spec.compression
        video = ((shape.frames - 1) // temporal + 1) * (shape.height // spatial) * (shape.width // spatial)
        return video + shape.audio_tokens

    def _timing(self, shape: JobShape, plan: MemoryPlan, gpu: Gpu, trace: StepTrace, peak: int) -> GpuTime:
        quantized = plan.base_weights in ("int8", "fp8")
        per_sample = gpu.seconds(trace.forward_flops + trace.backward_flops, quantized=quantized)
        if plan.offload_blocks:
            streamed = plan.offload_blocks * self.spec.base_bytes(plan.base_weights, plan.compute)[1]
            per_sample += 2 * streamed / gpu.host_link_bytes_per_second
        step = per_sample * shape.batch_size
        previews = 0.0
        if shape.preview_renders:
            width, height, frames = shape.validation_size
            audio = round(frames / shape.frame_rate * 25) if shape.with_audio else 0
            forward = self._trace(shape, plan, (width, height, frames), audio).forward_flops
            previews = shape.preview_renders * shape.preview_steps * PREVIEW_PASSES_PER_STEP
            previews *= gpu.seconds(forward, quantized=quantized)
        fits = peak <= gpu.memory_bytes and (plan.base_weights != "fp8" or gpu.fp8_weights)
        return GpuTime(gpu.name, fits, peak, step, step * shape.steps + previews)

    def _suggestions(self, shape: JobShape, plan: MemoryPlan, gpu: Gpu) -> list[Suggestion]:
        """Settings under which the job fits `gpu`, fastest first: a quantized base, then blocks offloaded."""
        kinds = [plan.base_weights] + [k for k in ("int8", "fp8") if k != plan.base_weights]
        kinds = [k for k in kinds if k != "fp8" or gpu.fp8_weights]
        found: list[Suggestion] = []
        for kind in kinds:
            for offload in range(0, self.spec.blocks + 1, 4):
                candidate = replace(plan, base_weights=kind, offload_blocks=offload, gradient_checkpointing=True)
                result = self.estimate(shape, candidate, gpu, suggest=False)
                if result.fits:
                    found.append(Suggestion(candidate.describe(), result.peak_memory_bytes, result.seconds_per_step))
                    break
        return sorted(found, key=lambda s: s.seconds_per_step)
