"""Peak bytes of live tensors on one device type: on the CPU, where torch keeps no allocator statistics, and
on the meta device, where the estimator traces a training step of the real model without memory.

A dispatch mode sees every tensor an op returns (forward, backward, optimizer) and counts its storage once,
until the storage is freed. Freed storages are found by their weak references, swept only when the count
would set a new peak, so the peak is exact at op boundaries and the sweep costs little. What existed
before the meter started (the model's weights, the samples) is the caller's to add as the baseline, and to
name with `exclude`, so that views and in-place results of those tensors (a transposed weight) are not
counted as new. torch's own RSS, which dominates a CPU process, is left out by construction.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveBytes(TorchDispatchMode):
    def __init__(self, baseline: int = 0, device_type: str = "cpu"):
        super().__init__()
        self.baseline = baseline
        self.device_type = device_type
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self._tracked = 0  # bytes of tracked storages, possibly including freed ones not yet swept
        self._peak = 0

    def exclude(self, tensors: Iterable[torch.Tensor]) -> LiveBytes:
        """Storages that existed before the meter and are not its to count."""
        for tensor in tensors:
            for plain in _plain_tensors(tensor):
                ref = StorageWeakRef(plain.untyped_storage())
                self._live[ref.cdata] = (ref, 0)
        return self

    @property
    def peak(self) -> int:
        """The baseline plus the most bytes the tracked storages held at once."""
        return self.baseline + self._peak

    @property
    def current(self) -> int:
        self._sweep()
        return self.baseline + self._tracked

    def _sweep(self) -> None:
        for key, (ref, size) in list(self._live.items()):
            if ref.expired():
                del self._live[key]
                self._tracked -= size

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        ref = StorageWeakRef(storage)
        known = self._live.get(ref.cdata)
        if known is not None:
            if not known[0].expired():
                return
            self._tracked -= known[1]  # a freed storage's address reused before a sweep
        size = storage.nbytes()
        self._live[ref.cdata] = (ref, size)
        self._tracked += size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor) and leaf.device.type == self.device_type and not _is_wrapper(leaf):
                self._track(leaf)
        if self._tracked > self._peak:
            self._sweep()
            self._peak = max(self._peak, self._tracked)
        return out


def _is_wrapper(tensor: torch.Tensor) -> bool:
    return hasattr(type(tensor), "__tensor_flatten__")


def _plain_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The tensor, or the plain tensors a wrapper subclass (a quantized weight) holds."""
    if not _is_wrapper(tensor):
        return [tensor]
    names, _ = tensor.__tensor_flatten__()  # type: ignore[attr-defined]
    return [plain for name in names for plain in _plain_tensors(getattr(tensor, name))]
