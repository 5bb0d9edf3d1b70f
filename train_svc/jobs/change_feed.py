"""The store's changes as this replica's collection watchers (WatchTrainingJobs) follow them.

The replica reads new changes from the store once per notice, whoever made them, and keeps the newest
TAIL of them in memory, so any number of watchers follow live changes without a query each. A watcher
resuming from before the tail reads the store itself (its owner's changes only) until it reaches it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator

from train_svc.jobs.store_contract import Change, JobStore, Notice, NoticeKind
from train_svc.jobs.wakeups import Waiter, new_waiter, wake, woken

TAIL = 4096
CATCH_UP_BATCH = 500


class ChangeFeed:
    def __init__(self, store: JobStore, tail: int = TAIL):
        self._store = store
        self._size = tail
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one reader of the store at a time
        self._tail: deque[Change] = deque()
        self._floor = self._last = store.change_bounds()[1]  # the tail holds every change after _floor
        self._interrupted = False
        self._waiters: set[Waiter] = set()
        self._unsubscribe = store.notices.subscribe(self._on_notice)

    @property
    def newest(self) -> int:
        """The position of the newest change this replica has read."""
        with self._lock:
            return self._last

    def _on_notice(self, notice: Notice) -> None:
        if notice.kind in (NoticeKind.EVENT, NoticeKind.DELETED, NoticeKind.RESYNC):
            self.read()

    def read(self) -> None:
        """Take in what the store holds beyond the tail, and wake the followers."""
        with self._reading:
            while batch := self._store.changes(self._last, None, CATCH_UP_BATCH):
                with self._lock:
                    self._tail.extend(batch)
                    self._last = batch[-1].position
                    while len(self._tail) > self._size:
                        self._floor = self._tail.popleft().position
                    waiters = list(self._waiters)
                wake(waiters)

    async def follow(self, after: int, owner: str | None, idle_seconds: float) -> AsyncIterator[Change | None]:
        """The changes after position `after` to `owner`'s jobs (None: everyone's), then live ones, until
        `interrupt`; None whenever `idle_seconds` pass without one."""
        waiter = new_waiter()
        flag = waiter[1]
        position = after
        try:
            while True:
                with self._lock:
                    floor, interrupted = self._floor, self._interrupted
                    batch = [c for c in self._tail if c.position > position] if position >= floor else []
                    if position >= floor and not batch and not interrupted:
                        flag.clear()
                        self._waiters.add(waiter)
                if position < floor:  # before the tail: read the store up to it
                    older = await asyncio.to_thread(self._store.changes, position, owner, CATCH_UP_BATCH)
                    for change in older:
                        yield change
                    if len(older) == CATCH_UP_BATCH:
                        position = older[-1].position
                    else:  # all of the owner's changes up to the tail, at least, are sent
                        position = max(position, floor, older[-1].position if older else 0)
                    continue
                for change in batch:
                    position = change.position
                    if owner is None or change.owner == owner:
                        yield change
                if batch:
                    continue
                if interrupted:
                    return
                if not await woken(flag, idle_seconds):
                    yield None
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def interrupt(self) -> None:
        """End every follow once it has caught up: the service is stopping."""
        with self._lock:
            self._interrupted = True
            waiters = list(self._waiters)
        wake(waiters)

    def close(self) -> None:
        self._unsubscribe()
