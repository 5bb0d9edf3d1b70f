"""Block offload (`--offload-blocks N`): the frozen weights of the first N transformer blocks stay in host
memory, and each forward of such a block streams them to the device as temporary copies.

With gradient checkpointing a block's forward keeps nothing for backward; backward runs the forward again,
which streams the weights in again, so at most one offloaded block's weights are on the device at a time
(plus what autograd holds while that block's backward runs). Without checkpointing autograd would keep
every copy until backward and nothing would be saved, so the trainer refuses that combination.

The block's parameters keep their names and objects (checkpoints, export and peft see the same model):
only while the block runs does each frozen parameter's slot hold the device copy. The LoRA of an
offloaded block stays on the device and trains as usual. On CUDA the host copies are pinned and the
transfers asynchronous; on the CPU the copies are still made, so the path is the one a GPU takes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from train_svc.models.tensor_bytes import tensor_bytes


def _frozen_slots(block: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    return [
        (module, name)
        for module in block.modules()
        for name, param in module._parameters.items()
        if param is not None and not param.requires_grad
    ]


def _moved(param: torch.Tensor, device: torch.device, pin: bool) -> torch.nn.Parameter:
    tensor = param.detach().to(device)
    if pin:
        tensor = tensor.pin_memory()
    return torch.nn.Parameter(tensor, requires_grad=param.requires_grad)


def _streamed(
    forward: Callable[..., object], slots: list[tuple[torch.nn.Module, str]], device: torch.device
) -> Callable[..., object]:
    @functools.wraps(forward)
    def run(*args, **kwargs):
        hosts = [module._parameters[name] for module, name in slots]  # parameters, never None (_frozen_slots)
        for (module, name), host in zip(slots, hosts, strict=True):
            # A plain tensor in the slot while the block runs: autograd keeps it alive as long as it needs it.
            module._parameters[name] = host.detach().to(device, non_blocking=True, copy=True)  # type: ignore[union-attr,assignment]
        try:
            return forward(*args, **kwargs)
        finally:
            for (module, name), host in zip(slots, hosts, strict=True):
                module._parameters[name] = host

    return run


def place_with_offload(transformer: torch.nn.Module, device: torch.device, count: int) -> int:
    """Move the transformer (LoRA already added) to `device`, except the frozen weights of its first `count`
    blocks, which go to (pinned) host memory and stream in on each forward; return the host bytes they hold."""
    blocks = transformer.get_submodule("transformer_blocks")
    assert isinstance(blocks, torch.nn.ModuleList)
    if not 0 <= count <= len(blocks):
        raise ValueError(f"offload blocks must be 0..{len(blocks)} (the model's block count), got {count}")
    host, pin = torch.device("cpu"), device.type == "cuda"
    offloaded = {id(module) for block in list(blocks)[:count] for module in block.modules()}
    host_bytes = 0
    for module in transformer.modules():
        for name, param in list(module._parameters.items()):
            if param is None:
                continue
            keep_on_host = id(module) in offloaded and not param.requires_grad
            module._parameters[name] = _moved(param, host if keep_on_host else device, pin and keep_on_host)
            if keep_on_host:
                host_bytes += tensor_bytes(param)
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                module._buffers[name] = buffer.to(device)
    for block in list(blocks)[:count]:
        block.forward = _streamed(block.forward, _frozen_slots(block), device)
    return host_bytes
