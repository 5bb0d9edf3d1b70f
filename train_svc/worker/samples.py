"""A job's training samples, read from the latent cache on first use: each rank reads the ones it trains."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import overload

from train_svc.training.latent_cache import read_sample_file
from train_svc.training.trainer import TrainingSample


class MissingSample(Exception):
    """A latent cache entry the run names is missing or damaged."""


class CachedSamples(Sequence[TrainingSample]):
    def __init__(self, files: Sequence[Path], *, audio: bool):
        """`audio`: the run trains audio; without it, the samples' audio latents are left out."""
        self._files = list(files)
        self._audio = audio
        self._loaded: dict[int, TrainingSample] = {}

    def __len__(self) -> int:
        return len(self._files)

    @overload
    def __getitem__(self, index: int) -> TrainingSample: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[TrainingSample]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index not in self._loaded:
            sample = read_sample_file(self._files[index])
            if sample is None:
                raise MissingSample(f"latent cache entry {self._files[index]} is missing or damaged")
            self._loaded[index] = sample if self._audio else replace(sample, audio=None)
        return self._loaded[index]
