"""The order in which samples are trained: one random permutation after another, resumable.

Each permutation is drawn from the trainer's generator only when the previous one is used up, so the
draws interleave with each step's sigma and noise draws exactly as a lazy `randperm` loop would. The
current permutation and the position in it are all a checkpoint needs to continue the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class OrderState:
    permutation: tuple[int, ...]  # empty before the first draw
    position: int  # index of the next sample in `permutation`


class DataOrder:
    def __init__(self, count: int, generator: torch.Generator, state: OrderState | None = None):
        if count < 1:
            raise ValueError("no samples to order")
        self.count = count
        self.generator = generator
        self.permutation: tuple[int, ...] = ()
        self.position = 0
        if state is not None:
            if state.permutation and sorted(state.permutation) != list(range(count)):
                raise ValueError(f"the stored data order is not a permutation of {count} samples")
            if not 0 <= state.position <= len(state.permutation):
                raise ValueError(f"the stored data order position {state.position} is out of range")
            self.permutation, self.position = state.permutation, state.position

    def next(self) -> int:
        """The index of the next sample to train on."""
        if self.position == len(self.permutation):
            self.permutation = tuple(torch.randperm(self.count, generator=self.generator).tolist())
            self.position = 0
        index = self.permutation[self.position]
        self.position += 1
        return index

    def state(self) -> OrderState:
        return OrderState(self.permutation, self.position)
