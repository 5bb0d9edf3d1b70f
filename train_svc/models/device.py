"""Device, precision and memory plan of a run: bf16 base weights on an accelerator, fp32 everywhere on the
CPU; optionally the transformer's block weights quantized (int8, fp8) or partly kept on the host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import Field

from shared.settings import Setting, SettingsModel
from train_svc.models.quantize import QUANTIZED_KINDS, check_device


@dataclass(frozen=True)
class Placement:
    device: torch.device
    base_dtype: torch.dtype  # frozen weights of the transformer, VAE and text encoder
    train_dtype: torch.dtype = torch.float32  # LoRA parameters and optimizer state
    quantization: str | None = None  # "int8" | "fp8": the transformer's block linears, weight-only
    offload_blocks: int = 0  # transformer blocks whose frozen weights stay on the host

    @property
    def base_weights(self) -> str:
        """What the frozen transformer's block weights are stored as: bf16, fp32, int8 or fp8."""
        return self.quantization or {torch.bfloat16: "bf16", torch.float32: "fp32"}[self.base_dtype]


class PlacementSettings(SettingsModel):
    device: Annotated[str, Setting("--device", "LTX_DEVICE", "auto, cpu, cuda or cuda:N")] = "auto"
    precision: Annotated[
        Literal["auto", "bf16", "fp32"],
        Setting("--precision", "LTX_PRECISION", "auto = bf16 on CUDA, fp32 on CPU"),
    ] = "auto"
    base_weights: Annotated[
        Literal["auto", "bf16", "fp32", "int8", "fp8"],
        Setting(
            "--base-weights",
            "LTX_BASE_WEIGHTS",
            "the frozen transformer's block weights: auto follows --precision; int8/fp8 quantize them weight-only "
            "(the LoRA still trains in fp32)",
        ),
    ] = "auto"
    gradient_checkpointing: Annotated[
        bool,
        Setting(
            "--gradient-checkpointing",
            "LTX_GRADIENT_CHECKPOINTING",
            "recompute each transformer block's activations in backward instead of keeping them",
        ),
    ] = True
    offload_blocks: Annotated[
        int,
        Setting(
            "--offload-blocks",
            "LTX_OFFLOAD_BLOCKS",
            "transformer blocks whose frozen weights stay in host memory and stream to the GPU on each pass "
            "(for 24-32 GB cards; needs gradient checkpointing)",
        ),
        Field(ge=0, le=1024),
    ] = 0
    # 1 by default: the accelerator does the heavy work, and on a small CPU box that also decodes video,
    # OpenMP threads spinning against busy cores slow every op down by orders of magnitude (measured:
    # 43 ms vs 3.3 s per tiny-model step with 1 vs 2 threads on 2 cores).
    cpu_threads: Annotated[
        int,
        Setting("--cpu-threads", "LTX_CPU_THREADS", "torch CPU threads; raise only to train on an otherwise idle CPU"),
        Field(ge=1),
    ] = 1


def choose_placement(
    device: str = "auto", precision: str = "auto", base_weights: str = "auto", offload_blocks: int = 0
) -> Placement:
    """device: auto|cpu|cuda|cuda:N; precision: auto|bf16|fp32 (auto = bf16 on CUDA, fp32 on CPU);
    base_weights: auto|bf16|fp32|int8|fp8 (auto follows precision; bf16/fp32 set it, and must agree with an
    explicit one; int8/fp8 quantize the block linears and compute in the precision's dtype)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    if base_weights in ("bf16", "fp32"):
        if precision not in ("auto", base_weights):
            raise ValueError(f"--base-weights {base_weights} contradicts --precision {precision}")
        precision = base_weights
    if precision == "auto":
        precision = "bf16" if dev.type == "cuda" else "fp32"
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    if precision not in dtypes:
        raise ValueError(f"precision must be one of auto, bf16, fp32 (got {precision!r})")
    quantization = base_weights if base_weights in QUANTIZED_KINDS else None
    if quantization is None and base_weights not in ("auto", "bf16", "fp32"):
        raise ValueError(f"base weights must be one of auto, bf16, fp32, int8, fp8 (got {base_weights!r})")
    if quantization is not None:
        check_device(quantization, dev)
    if offload_blocks < 0:
        raise ValueError(f"offload blocks must be >= 0 (got {offload_blocks})")
    return Placement(dev, dtypes[precision], quantization=quantization, offload_blocks=offload_blocks)


def limit_cpu_threads(count: int) -> None:
    if count < 1:
        raise ValueError(f"cpu threads must be at least 1 (got {count})")
    torch.set_num_threads(count)


def release(*modules: torch.nn.Module) -> None:
    """Move modules off the accelerator and return the memory; their encoding work is done."""
    for module in modules:
        module.to("cpu")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
