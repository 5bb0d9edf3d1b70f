"""Sharding the frozen base over the ranks with FSDP2 (`--shard-base`), for a base that does not fit one device.

`shard_transformer` puts each transformer block, then the root, under `torch.distributed.fsdp.fully_shard`
on a 1-D device mesh over the world: every rank keeps its 1/world slice (dim 0) of every parameter, the
LoRA's included, and a block's full weights are all-gathered for its forward and again for its backward.
The LoRA's gradients are reduce-scattered and averaged over the ranks, as DDP's all-reduce averages
them, so the training loop weights the losses the same either way; `gradient_sync(module, False)` is
FSDP2's `no_sync`, for the passes of a step before its last.

Sharding replaces the module's parameters by DTensors, so whatever holds parameters must read them
afterwards. The rest converts between sharded state and the full tensors a checkpoint or a LoRA file
holds: gathering (`full_tensor`) is a collective, called by every rank in the same order; loading a full
tensor into a shard only slices it on each rank (every rank reads the same checkpoint). Plain tensors
pass through unchanged, so the same calls serve a run that does not shard.
"""

from __future__ import annotations

from typing import Any

import structlog
import torch
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor

log = structlog.get_logger(__name__)


def shard_transformer(transformer: torch.nn.Module, device: torch.device, world_size: int) -> None:
    """Shard `transformer` in place (each of its `transformer_blocks`, then the root) over `world_size` ranks.
    It stays the same object, config and all; its parameters become DTensors, on `device`."""
    if device.type == "cuda":
        torch.cuda.set_device(device)  # FSDP2 puts the shards on the mesh type's current device
    mesh = init_device_mesh(device.type, (world_size,))
    blocks = list(transformer.get_submodule("transformer_blocks").children())
    for block in blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(transformer, mesh=mesh)
    log.info("base sharded", world_size=world_size, blocks=len(blocks), device_type=device.type)


def gradient_sync(module: torch.nn.Module, reduce: bool) -> None:
    """Whether the next backward reduce-scatters the gradients (True) or only accumulates them (False)."""
    if not isinstance(module, FSDPModule):
        raise TypeError(f"{type(module).__name__} is not sharded")
    module.set_requires_gradient_sync(reduce)


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor: gathered from every rank onto the CPU if sharded (a collective; the device holds one
    whole tensor at a time), else itself."""
    return tensor.full_tensor().cpu() if isinstance(tensor, DTensor) else tensor


def full_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: full(tensor.detach()) for name, tensor in tensors.items()}


def sharded_like(whole: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """`whole` cut the way `param` is, without communication (every rank holds `whole`); `whole` itself when
    `param` is not sharded."""
    if not isinstance(param, DTensor):
        return whole
    return distribute_tensor(whole.to(param.device), param.device_mesh, param.placements, src_data_rank=None)


def _parameters_by_id(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[int, torch.Tensor]:
    """The optimizer's parameters under the ids `state` (an optimizer state dict) gives them."""
    ids = [i for group in state["param_groups"] for i in group["params"]]
    return dict(zip(ids, (p for group in optimizer.param_groups for p in group["params"]), strict=True))


def full_optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """`optimizer.state_dict()` with its per-parameter tensors whole (a collective when sharded), as a run
    that does not shard would have it."""
    state = optimizer.state_dict()
    per_param = {i: {key: full(value) for key, value in entry.items()} for i, entry in state["state"].items()}
    return {**state, "state": per_param}


def sharded_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
    """A whole optimizer state dict (`full_optimizer_state`'s) with each tensor shaped like its parameter
    cut the way the parameter is, ready for `optimizer.load_state_dict`."""
    params = _parameters_by_id(optimizer, state)
    per_param = {
        i: {
            key: sharded_like(value, params[i])
            if isinstance(value, torch.Tensor) and value.shape == params[i].shape
            else value
            for key, value in entry.items()
        }
        for i, entry in state["state"].items()
    }
    return {**state, "state": per_param}
