"""The order in which samples are trained: one random permutation of the dataset per epoch.

Position p of the run (step s, global batch index i, batch size B: p = (s - 1) * B + i) trains sample
permutation_e[p mod N], where e = p div N and permutation_e is drawn from a generator keyed by
(seed, e). Any rank finds any position's sample on its own, and a resumed run finds its place from
its step alone.
"""

from __future__ import annotations

import torch

from train_svc.training.sample_rng import order_generator


class DataOrder:
    def __init__(self, count: int, seed: int):
        if count < 1:
            raise ValueError("no samples to order")
        self.count = count
        self.seed = seed
        self._epoch = -1
        self._permutation: tuple[int, ...] = ()

    def sample_at(self, position: int) -> int:
        """The index of the sample trained at run position `position` (0-based)."""
        if position < 0:
            raise ValueError(f"a run position is >= 0 (got {position})")
        epoch, offset = divmod(position, self.count)
        if epoch != self._epoch:
            generator = order_generator(self.seed, epoch)
            self._permutation = tuple(torch.randperm(self.count, generator=generator).tolist())
            self._epoch = epoch
        return self._permutation[offset]
