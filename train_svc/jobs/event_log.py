"""A job's ordered event log: appended by the worker thread, followed by any number of async watchers.

Every event gets the next job-wide sequence number (from 1, no gaps). A watcher asks for everything
after a sequence number: it first receives what is already recorded, then follows live events until
the log is closed (the job ended). Appending never waits for watchers: each watcher reads the shared
list at its own pace, so a slow one holds no copy of anything and slows no one down.
An event is handed to the `persist` callback (the job store) before anyone can see it.

A log may also mirror a job run elsewhere (train_svc.jobs.feeds): it holds the events from some
sequence number on, `extend`ed with what the store has, and `backfill`ed when a watcher wants earlier ones.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from train_svc.jobs.events import JobEvent
from train_svc.jobs.wakeups import Waiter, new_waiter, wake, woken


@dataclass(frozen=True)
class LoggedEvent:
    sequence: int
    time: datetime
    event: JobEvent


class EventLog:
    def __init__(
        self,
        restored: list[LoggedEvent] | None = None,
        persist: Callable[[LoggedEvent], None] = lambda logged: None,
        base: int = 0,
    ) -> None:
        """`restored`: the job's events numbered from `base` + 1 (all of them with base 0: a restart)."""
        self._base = base  # the sequence number before the first event held
        self._events: list[LoggedEvent] = list(restored or ())
        if any(logged.sequence != number for number, logged in enumerate(self._events, start=base + 1)):
            raise ValueError(f"restored events must be numbered {base + 1}, {base + 2}, ... without gaps")
        self._persist = persist
        self._append_lock = threading.Lock()  # numbers and stores events; readers never wait for the store
        self._closed = False
        self._interrupted = False
        self._lock = threading.Lock()
        self._waiters: set[Waiter] = set()

    def append(self, event: JobEvent) -> LoggedEvent:
        with self._append_lock:
            if self._closed:
                raise RuntimeError("event log is closed")
            logged = LoggedEvent(self._base + len(self._events) + 1, datetime.now(UTC), event)
            self._persist(logged)
            with self._lock:
                self._events.append(logged)
                waiters = list(self._waiters)
        wake(waiters)
        return logged

    def extend(self, stored: list[LoggedEvent]) -> None:
        """Add events already numbered and stored (by the replica that runs the job); those held are skipped."""
        with self._lock:
            last = self._base + len(self._events)
            newer = [logged for logged in stored if logged.sequence > last]
            if any(logged.sequence != number for number, logged in enumerate(newer, start=last + 1)):
                raise ValueError(f"events after {last} must follow it without gaps")
            self._events.extend(newer)
            waiters = list(self._waiters) if newer else []
        wake(waiters)

    def backfill(self, earlier: list[LoggedEvent]) -> None:
        """Add events before the first one held (`earlier`, in order, reaching at least to the first one's
        predecessor; those held already are skipped, so two callers may backfill at once)."""
        with self._lock:
            needed = [logged for logged in earlier if logged.sequence <= self._base]
            if not needed:
                return
            if needed[-1].sequence != self._base or any(
                logged.sequence != number for number, logged in enumerate(needed, start=needed[0].sequence)
            ):
                raise ValueError(f"earlier events must reach {self._base} without gaps")
            self._events[:0] = needed
            self._base = needed[0].sequence - 1

    @property
    def base(self) -> int:
        with self._lock:
            return self._base

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
        wake(waiters)

    def interrupt(self) -> None:
        """End every follower once it has caught up, although the log stays open (the service is stopping)."""
        with self._lock:
            self._interrupted = True
            waiters = list(self._waiters)
        wake(waiters)

    @property
    def closed(self) -> bool:
        """The job has ended: no event will follow."""
        with self._lock:
            return self._closed

    @property
    def last_sequence(self) -> int:
        with self._lock:
            return self._base + len(self._events)

    async def follow(self, after: int = 0, idle_seconds: float | None = None) -> AsyncIterator[LoggedEvent | None]:
        """Every event after sequence `after` (at least the log's base), then live ones until the log closes
        (or is interrupted); with `idle_seconds`, None whenever that long passes without an event (a
        heartbeat for the caller)."""
        waiter = new_waiter()
        flag = waiter[1]
        position = max(after, 0)
        try:
            while True:
                with self._lock:
                    batch = self._events[max(position - self._base, 0) :]
                    closed = self._closed or self._interrupted
                    if not batch and not closed:
                        flag.clear()
                        self._waiters.add(waiter)
                for logged in batch:
                    yield logged
                position += len(batch)
                if batch:
                    continue
                if closed:
                    return
                if not await woken(flag, idle_seconds):
                    yield None
        finally:
            with self._lock:
                self._waiters.discard(waiter)
