"""The transformer a LoRA trains on: the frozen base (loaded, quantized, offloaded as the placement says)
with the peft adapter added, its LoRA parameters in the training dtype."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from train_svc.models.device import Placement
from train_svc.models.quantize import quantize_blocks
from train_svc.training.block_offload import place_with_offload
from train_svc.training.config import TrainConfig
from train_svc.training.lora_targets import target_module_names

ADAPTER_NAME = "default"


def load_transformer(model_path: Path, placement: Placement, device: torch.device | None = None):
    """The frozen transformer in the base dtype, on `device` (default: the placement's)."""
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(
        model_path, subfolder="transformer", dtype=placement.base_dtype, local_files_only=True
    )
    return transformer.to(device or placement.device).requires_grad_(False)


def _check_memory_plan(placement: Placement, config: TrainConfig, sharded: bool) -> None:
    """Refuse the combinations of memory settings this trainer does not run."""
    if sharded and (placement.quantization is not None or placement.offload_blocks):
        raise ValueError("a base sharded over the ranks (--shard-base) cannot also be quantized or offloaded")
    if placement.offload_blocks and not config.gradient_checkpointing:
        raise ValueError(
            "--offload-blocks needs gradient checkpointing: without it autograd keeps every streamed block on the "
            "device and nothing is saved"
        )


def lora_transformer(
    model_path: Path | None,
    placement: Placement,
    config: TrainConfig,
    *,
    sharded: bool = False,
    base: torch.nn.Module | None = None,
) -> tuple[torch.nn.Module, list[str]]:
    """The base with its adapter, on the placement's device (a base to be `sharded` stays on the CPU for the
    sharding to place), and the names of the modules the LoRA targets. The base is loaded from `model_path`,
    or is `base`, already built (frozen, in the base dtype: the GPU benchmark's random weights)."""
    from peft import LoraConfig

    _check_memory_plan(placement, config, sharded)
    # A base to be sharded, quantized or partly offloaded is loaded on the CPU: sharding moves each rank's
    # slice to the device block by block, quantization each block, offload all but the offloaded weights.
    on_host = sharded or placement.quantization is not None or placement.offload_blocks > 0
    transformer: Any
    if base is not None:
        transformer = base.requires_grad_(False)
    elif model_path is not None:
        transformer = load_transformer(model_path, placement, torch.device("cpu") if on_host else None)
    else:
        raise ValueError("a base model path or a built base is needed")
    if placement.quantization is not None:
        quantize_blocks(transformer, placement.quantization, placement.device)
    targets = target_module_names(transformer, audio=config.audio, feed_forward=config.feed_forward)
    torch.manual_seed(config.seed)  # LoRA A matrices are initialised from the global generator
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.lora_alpha,  # type: ignore[arg-type]  # peft says int; any number works (alpha / r)
        target_modules=targets,
        init_lora_weights=True,
    )
    transformer.add_adapter(lora, adapter_name=ADAPTER_NAME)
    for param in transformer.parameters():
        if param.requires_grad:
            param.data = param.data.to(placement.train_dtype)
    if placement.offload_blocks:
        place_with_offload(transformer, placement.device, placement.offload_blocks)
    elif on_host and not sharded:
        transformer.to(placement.device)
    if config.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    return transformer, targets
