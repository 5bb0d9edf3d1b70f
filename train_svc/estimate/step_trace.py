"""One LoRA training step of an LTX-2 transformer traced on the meta device: the bytes of live tensors at the
step's peak and the floating-point operations, for any config and bucket, with no memory and no weights.

The step is the trainer's own (`transformer_velocities`, the peft adapter on the same targets, the float32
LoRA, gradient checkpointing as configured, the loss in float32), run on meta tensors under two counters:
`LiveBytes` for the peak of what the step allocates, and a counter of matrix-product operations (torch's
own formulas, `torch.utils.flop_counter.flop_registry`).
Attention is the one place the meta device would differ from a GPU: there scaled_dot_product_attention
falls back to its math form, materialising every score. Here it is routed to the flash-attention kernel's
meta function, which keeps what flash attention keeps (the output and one log-sum-exp per query), as
PyTorch's flash and memory-efficient kernels do on CUDA and its flash kernel does on the CPU; its
operations are counted as 4·B·H·Nq·Nk·D forward and 2.5 times that backward (the scores are recomputed).

Only the step's own tensors are counted: the frozen weights and the LoRA parameters exist before the
counter starts (they are the estimate's other parts); the LoRA's gradients are counted and reported apart.
Traces at two depths give the per-block and the outside figures; `extrapolated` scales them to the model's
depth, which is exact because every block has the same shapes.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from train_svc.estimate.live_bytes import LiveBytes

TEXT_TOKENS = 1024  # captions are padded to the connectors' length, in training as in the real model


@dataclass(frozen=True)
class TraceInput:
    """What decides a step's activations besides the model's config: the bucket's token grid and the run."""

    latent_grid: tuple[int, int, int]  # latent frames, height, width
    fps: float
    audio_tokens: int  # 0: video only (the modalities isolated, one placeholder audio token)
    rank: int
    feed_forward: bool
    gradient_checkpointing: bool
    dtype: torch.dtype  # the base's compute dtype


@dataclass(frozen=True)
class StepTrace:
    peak_bytes: int  # most bytes the step's own tensors held at once (the LoRA's gradients included)
    lora_gradient_bytes: int
    forward_flops: int
    backward_flops: int  # with checkpointing, the blocks' recomputed forward too

    def _combine(self, other: StepTrace, weight: int) -> StepTrace:
        return StepTrace(*(a + weight * (b - a) for a, b in zip(_values(self), _values(other), strict=True)))

    def extrapolated(self, one_more: StepTrace, more_blocks: int) -> StepTrace:
        """This trace with `more_blocks` blocks added, each adding what `one_more` (a trace with one block
        more than this one) added."""
        return self._combine(one_more, more_blocks)


def _values(trace: StepTrace) -> tuple[int, int, int, int]:
    return (trace.peak_bytes, trace.lora_gradient_bytes, trace.forward_flops, trace.backward_flops)


_ORIGINAL_ATTENTION = F.scaled_dot_product_attention
_TRACING = threading.Lock()  # one trace at a time patches the function


def _attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """scaled_dot_product_attention as the flash kernel computes it, on meta tensors; unchanged on any other."""
    if query.device.type != "meta":
        return _ORIGINAL_ATTENTION(
            query, key, value, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa
        )
    if is_causal or dropout_p or enable_gqa:
        raise ValueError("the LTX-2 transformer's attention is neither causal, dropped out nor grouped")
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = torch.zeros(attn_mask.shape, dtype=query.dtype, device=query.device).masked_fill(
            ~attn_mask, -math.inf
        )
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, 0.0, False, attn_mask=attn_mask, scale=scale
    )[0]


@contextlib.contextmanager
def _flash_attention_on_meta() -> Iterator[None]:
    """Swap the function itself (a mode would not be seen by a checkpointed block's recomputation, which then
    saves other tensors than its forward did and is refused)."""
    with _TRACING:
        F.scaled_dot_product_attention = _attention
        try:
            yield
        finally:
            F.scaled_dot_product_attention = _ORIGINAL_ATTENTION


_ATTENTION = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_ATTENTION_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
_PRODUCTS = (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.bmm, torch.ops.aten.baddbmm)


class _Operations(TorchDispatchMode):
    """Floating-point operations of the matrix products and of attention."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet in _PRODUCTS:
            self.count += flop_registry[packet](*args, **kwargs, out_val=out)
        elif packet in (_ATTENTION, _ATTENTION_BACKWARD):
            query, key = args[0], args[1]
            if packet == _ATTENTION_BACKWARD:  # (grad_out, query, key, ...)
                query, key = args[1], args[2]
            batch, heads, queries, depth = query.shape
            forward = 4 * batch * heads * queries * key.shape[-2] * depth
            self.count += forward if packet == _ATTENTION else int(2.5 * forward)
        return out


def _model(config: dict[str, Any], spec: TraceInput, blocks: int) -> tuple[Any, int]:
    """A `blocks`-block transformer of `config` on the meta device with the adapter the trainer adds (the same
    targets, float32 LoRA, checkpointing); and the LoRA's bytes. Not through the trainer's lora_transformer,
    and all on the meta device: the process-wide generator, which the trainer seeds and draws its LoRA's
    initial weights from, is never touched by an estimate made beside a training job."""
    from peft import LoraConfig

    from train_svc.models.real_size import build_on_meta
    from train_svc.training.lora_model import ADAPTER_NAME
    from train_svc.training.lora_targets import target_module_names

    transformer: Any = build_on_meta("transformer", {**config, "num_layers": blocks}).to(spec.dtype)
    transformer.requires_grad_(False)
    targets = target_module_names(transformer, audio=spec.audio_tokens > 0, feed_forward=spec.feed_forward)
    with torch.device("meta"):  # peft would build each LoRA layer on the CPU first, drawing its init there
        transformer.add_adapter(LoraConfig(r=spec.rank, lora_alpha=spec.rank, target_modules=targets), ADAPTER_NAME)
    lora_parameters = [p for p in transformer.parameters() if p.requires_grad]
    for param in lora_parameters:
        param.data = param.data.float()
    if spec.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    return transformer.train(), sum(p.numel() * 4 for p in lora_parameters)


def trace_step(config: dict[str, Any], spec: TraceInput, blocks: int) -> StepTrace:
    """Trace one training sample's forward and backward through a `blocks`-block model of `config` (the
    transformer's constructor arguments)."""
    from train_svc.training.encoding import CaptionEmbedding, VideoLatents
    from train_svc.training.trainer import NoisyAudio, transformer_velocities

    transformer, lora_bytes = _model(config, spec, blocks)
    built: Any = transformer.config
    frames, height, width = spec.latent_grid
    meta = torch.device("meta")
    operations = _Operations()
    live = LiveBytes(device_type="meta").exclude([*transformer.parameters(), *transformer.buffers()])
    with live, operations, _flash_attention_on_meta():
        x0 = torch.empty(1, frames * height * width, built.in_channels, device=meta)
        caption = CaptionEmbedding(
            video=torch.empty(1, TEXT_TOKENS, built.cross_attention_dim, device=meta),
            audio=torch.empty(1, TEXT_TOKENS, built.audio_cross_attention_dim, device=meta),
            mask=torch.empty(1, TEXT_TOKENS, dtype=torch.long, device=meta),
        )
        latents = VideoLatents(x0, frames, height, width, spec.fps)
        sigma = torch.empty(1, device=meta)
        noisy, target = _noised(x0, sigma, spec.dtype)
        audio = None
        if spec.audio_tokens:
            audio_x0 = torch.empty(1, spec.audio_tokens, built.audio_in_channels, device=meta)
            noisy_audio, audio_target = _noised(audio_x0, sigma, spec.dtype)
            audio = NoisyAudio(noisy_audio, sigma)
        video_v, audio_v = transformer_velocities(transformer, noisy, sigma, latents, caption, audio)
        loss = F.mse_loss(video_v, target)
        if audio_v is not None:
            loss = loss + F.mse_loss(audio_v, audio_target)
        forward = operations.count
        loss.backward()
    backward = operations.count - forward  # with checkpointing, the blocks' forward again
    return StepTrace(live.peak, lora_bytes, forward, backward)


def _noised(x0: torch.Tensor, sigma: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    noise = torch.empty_like(x0)
    s = sigma.view(-1, 1, 1)
    return ((1.0 - s) * x0 + s * noise).to(dtype), noise - x0
