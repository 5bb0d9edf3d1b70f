"""LoRA files for generation tests, written without training: a peft adapter on the model's own layers
with random non-zero B weights, exported by the trainer's own writer (original key format, alpha folded)."""

from __future__ import annotations

from pathlib import Path

import torch

from train_svc.export.lora_file import LoraMetadata, write_lora
from train_svc.training.lora_targets import target_module_names


def random_lora_state(
    model_path: Path, *, rank: int = 4, seed: int = 1, b_std: float = 0.05
) -> dict[str, torch.Tensor]:
    """peft/diffusers-named LoRA weights for every attention and feed-forward layer of the transformer."""
    from diffusers import LTX2VideoTransformer3DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = LTX2VideoTransformer3DModel.from_pretrained(
        model_path, subfolder="transformer", local_files_only=True
    )
    targets = target_module_names(transformer, audio=False, feed_forward=True)
    generator = torch.Generator().manual_seed(seed)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets), adapter_name="default")
    state = get_peft_model_state_dict(transformer, adapter_name="default")
    return {
        key: (torch.randn(value.shape, generator=generator) * b_std if ".lora_B." in key else value).contiguous()
        for key, value in state.items()
    }


def write_test_lora(path: Path, state: dict[str, torch.Tensor], rank: int = 4) -> Path:
    return write_lora(path, state, LoraMetadata("zqx", rank, float(rank), "ltx2.3-tiny", 0, "t2v", False))
