"""Settings of one LoRA training run (the optimisation side; data settings live in the request)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.request import defaults


@dataclass(frozen=True)
class TrainConfig:
    rank: int
    learning_rate: float
    steps: int
    batch_size: int = 1  # samples per optimizer step, over all ranks together
    alpha: float | None = None  # None: alpha = rank, as in the shipped recipe
    seed: int = defaults.SEED
    lr_end_factor: float = 0.1  # linear decay to 0.1x of the peak rate, no warm-up
    max_grad_norm: float = 1.0
    weight_decay: float = 0.01
    gradient_checkpointing: bool = True
    feed_forward: bool = False  # also adapt the feed-forward layers
    audio: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 (got {self.batch_size})")

    @property
    def lora_alpha(self) -> float:
        return float(self.alpha if self.alpha is not None else self.rank)
