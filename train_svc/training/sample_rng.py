"""Random draws keyed by what they are for, never by who draws them.

Every random number of a training step belongs to one sample of the global batch: its noise level,
its noise, its audio noise level and audio noise come, in that order, from a generator seeded by
(run seed, step, index of the sample in the global batch). The data order comes from a generator
seeded by (run seed, epoch). So any rank can draw any sample's numbers without the others, and the same
request trains the same LoRA on 1, 2 or 8 ranks; a resumed run needs no generator state, only its step.
"""

from __future__ import annotations

import hashlib

import torch

_SEED_BITS = 63  # torch.Generator.manual_seed takes a non-negative 64-bit value


def keyed_generator(seed: int, purpose: str, *key: int) -> torch.Generator:
    """A CPU generator seeded by SHA-256 over the run seed, what the draws are for and their key."""
    text = ":".join((str(seed), purpose, *(str(part) for part in key)))
    digest = hashlib.sha256(text.encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << _SEED_BITS) - 1))


def sample_generator(seed: int, step: int, index: int) -> torch.Generator:
    """The generator of global batch sample `index` at `step` (1-based)."""
    return keyed_generator(seed, "sample", step, index)


def order_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of the data order's permutation number `epoch` (0-based)."""
    return keyed_generator(seed, "order", epoch)
