"""Weight-only quantization of the frozen transformer's block linears (`--base-weights int8|fp8`), with torchao.

torchao, not optimum-quanto: it is the PyTorch team's library, maintained against each torch release
(0.18 runs on torch 2.13), peft wraps its tensors in a LoRA layer of its own (`TorchaoLoraLinear`), and
diffusers' quanto route is deprecated (removal announced for diffusers 1.0).

Only the linear layers inside `transformer_blocks` are quantized: they hold 18.55 B of the real
transformer's 18.99 B parameters. Embeddings, norms, the projections in and out and the LoRA itself stay
in the compute dtype, and the LoRA trains in float32. Each linear's weight becomes int8 (or float8 e4m3)
with one scale per output row; activations stay in the compute dtype (weight-only), so the forward is the
full-precision one up to the rounding of the weights.
"""

from __future__ import annotations

import torch

QUANTIZED_KINDS = ("int8", "fp8")
FP8_MIN_CAPABILITY = (8, 9)  # float8 weights on CUDA need Ada or Hopper (L40S, RTX 4090/5090, H100, H200)


class QuantizationUnsupported(ValueError):
    """The device cannot hold the requested kind of quantized weights."""


def check_device(kind: str, device: torch.device) -> None:
    """Refuse at start a kind the device cannot run, rather than at the first step of a job."""
    if kind not in QUANTIZED_KINDS:
        raise ValueError(f"base weights {kind!r} are not a quantized kind ({', '.join(QUANTIZED_KINDS)})")
    if kind == "fp8" and device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        if capability < FP8_MIN_CAPABILITY:
            raise QuantizationUnsupported(
                f"--base-weights fp8 needs a GPU of compute capability {FP8_MIN_CAPABILITY[0]}.{FP8_MIN_CAPABILITY[1]} "
                f"or newer; {torch.cuda.get_device_name(device)} is {capability[0]}.{capability[1]}: use int8"
            )


def _config(kind: str):
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig

    return Int8WeightOnlyConfig() if kind == "int8" else Float8WeightOnlyConfig()


def quantize_blocks(transformer: torch.nn.Module, kind: str, device: torch.device) -> int:
    """Move each of the transformer's blocks to `device` and quantize its linear layers there, one block at a
    time (a full-precision base never has to fit the device whole); call it before the LoRA is added, so peft
    wraps the quantized layers. Returns how many linears were quantized."""
    from torchao.quantization import quantize_

    config = _config(kind)
    quantized = 0
    blocks = transformer.get_submodule("transformer_blocks")
    assert isinstance(blocks, torch.nn.ModuleList)
    for block in blocks:
        block.to(device)
        quantized += sum(isinstance(module, torch.nn.Linear) for module in block.modules())
        quantize_(block, config, filter_fn=lambda module, _name: isinstance(module, torch.nn.Linear))
    return quantized
