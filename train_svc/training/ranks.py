"""The ranks of a data-parallel run, as the training loop sees them: who am I, how many are we, and
the few collectives the loop needs besides DDP's gradient all-reduce.

`Ranks()` is one process training alone (no process group); a worker under torch.distributed gets
its ranks from the initialised default group (`Ranks.of_process_group`). A global batch of B samples
is split over W ranks as evenly as possible (`share`): the first B mod W ranks take one more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where collectives' tensors live

    @classmethod
    def of_process_group(cls, device: torch.device) -> Ranks:
        return cls(dist.get_rank(), dist.get_world_size(), device)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one rank that writes (checkpoints, previews, exports, events)."""
        return self.rank == 0

    def share(self, batch: int) -> range:
        """The global batch indices this rank trains."""
        base, extra = divmod(batch, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return range(start, start + base + (1 if self.rank < extra else 0))

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the ranks (in float64)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any of them."""
        if not self.distributed:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item() > 0)
