"""LoRA files for generation tests, written without training: a peft adapter on the model's own layers
with random non-zero B weights, exported by the trainer's own writer (original key format, alpha folded).
`with_prompt_adaln` adds a module of a layer LTX-2.3 has and LTX-2.5 does not."""

from __future__ import annotations

from pathlib import Path

import torch

from train_svc.export.lora_file import LoraMetadata, write_lora
from train_svc.lora_tools.keys import make_key
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


# A Linear layer of LTX-2.3 only: LTX-2.5 has no timestep-dependent prompt modulation (use_prompt_adaln_single).
ONLY_IN_23 = "prompt_adaln.linear"


def with_prompt_adaln(state: dict[str, torch.Tensor], model_path: Path, rank: int = 4) -> dict[str, torch.Tensor]:
    """`state` plus LoRA weights for the LTX-2.3 model's `prompt_adaln.linear` (named as in the original
    checkpoint, `prompt_adaln_single.linear`, as write_lora writes names outside the blocks as given)."""
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(
        model_path, subfolder="transformer", local_files_only=True
    )
    layer = transformer.get_submodule(ONLY_IN_23)
    generator = torch.Generator().manual_seed(2)
    prefix = len("diffusion_model.")
    return {
        **state,
        make_key(ONLY_IN_23, "A", "comfyui")[prefix:]: torch.randn(rank, layer.in_features, generator=generator),
        make_key(ONLY_IN_23, "B", "comfyui")[prefix:]: torch.randn(layer.out_features, rank, generator=generator)
        * 0.01,
    }


def write_test_lora(path: Path, state: dict[str, torch.Tensor], rank: int = 4, ltx_version: str = "") -> Path:
    """`ltx_version` "": a LoRA whose metadata names no version (an older or third-party file)."""
    metadata = LoraMetadata("zqx", rank, float(rank), "ltx2.3-tiny", 0, "t2v", False, ltx_version)
    return write_lora(path, state, metadata)
