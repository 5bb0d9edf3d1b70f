"""Bytes a tensor really holds, also for tensor subclasses (torchao's quantized weights report the dtype
they stand for, not the int8 or float8 data and scales they keep)."""

from __future__ import annotations

import torch


def tensor_bytes(tensor: torch.Tensor) -> int:
    flatten = getattr(type(tensor), "__tensor_flatten__", None)
    if flatten is not None:
        names, _ = tensor.__tensor_flatten__()  # type: ignore[attr-defined]
        return sum(tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


def module_bytes(module: torch.nn.Module, *, trainable: bool | None = None) -> int:
    """Bytes of the module's parameters and buffers; `trainable` True/False counts only those that do/do not
    require grad (buffers count as frozen)."""
    total = 0
    for param in module.parameters():
        if trainable is None or param.requires_grad == trainable:
            total += tensor_bytes(param)
    if trainable is not True:
        total += sum(tensor_bytes(buffer) for buffer in module.buffers())
    return total
