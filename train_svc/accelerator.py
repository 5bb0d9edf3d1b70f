"""The accelerator as a shared resource: training jobs and generations take a slot before touching it.

One slot per job the service may run at once (TrainServiceConfig.concurrent_jobs). A training job holds
its slot from dataset to export; a generation holds one from loading the pipeline to the last step, so
the two never share the device beyond what the operator allowed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_POLL_S = 0.1  # how often a waiter checks whether it should give up


class WaitAbandoned(Exception):
    """The waiter stopped waiting (its caller went away)."""


@contextmanager
def held(lock: threading.Semaphore | threading.Lock, give_up: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Wait for `lock` and hold it for the block; raise WaitAbandoned as soon as `give_up()` is true."""
    while not lock.acquire(timeout=_POLL_S):
        if give_up():
            raise WaitAbandoned()
    try:
        yield
    finally:
        lock.release()


class AcceleratorSlots:
    def __init__(self, count: int):
        if count < 1:
            raise ValueError(f"need at least one accelerator slot (got {count})")
        self.count = count
        self._free = threading.Semaphore(count)

    def hold(self, give_up: Callable[[], bool] = lambda: False):
        """A context manager holding one slot (see `held`)."""
        return held(self._free, give_up)
