"""Device and precision for a run: bf16 base weights on an accelerator, fp32 everywhere on the CPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import Field

from shared.settings import Setting, SettingsModel


@dataclass(frozen=True)
class Placement:
    device: torch.device
    base_dtype: torch.dtype  # frozen weights of the transformer, VAE and text encoder
    train_dtype: torch.dtype = torch.float32  # LoRA parameters and optimizer state


class PlacementSettings(SettingsModel):
    device: Annotated[str, Setting("--device", "LTX_DEVICE", "auto, cpu, cuda or cuda:N")] = "auto"
    precision: Annotated[
        Literal["auto", "bf16", "fp32"],
        Setting("--precision", "LTX_PRECISION", "auto = bf16 on CUDA, fp32 on CPU"),
    ] = "auto"
    # 1 by default: the accelerator does the heavy work, and on a small CPU box that also decodes video,
    # OpenMP threads spinning against busy cores slow every op down by orders of magnitude (measured:
    # 43 ms vs 3.3 s per tiny-model step with 1 vs 2 threads on 2 cores).
    cpu_threads: Annotated[
        int,
        Setting("--cpu-threads", "LTX_CPU_THREADS", "torch CPU threads; raise only to train on an otherwise idle CPU"),
        Field(ge=1),
    ] = 1


def choose_placement(device: str = "auto", precision: str = "auto") -> Placement:
    """device: auto|cpu|cuda|cuda:N; precision: auto|bf16|fp32 (auto = bf16 on CUDA, fp32 on CPU)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    if precision == "auto":
        precision = "bf16" if dev.type == "cuda" else "fp32"
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    if precision not in dtypes:
        raise ValueError(f"precision must be one of auto, bf16, fp32 (got {precision!r})")
    return Placement(device=dev, base_dtype=dtypes[precision])


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
