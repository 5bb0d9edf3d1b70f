"""A job's ordered event log: appended by the worker thread, followed by any number of async watchers.

Every event gets the next job-wide sequence number (from 1, no gaps). A watcher asks for everything
after a sequence number: it first receives what is already recorded, then follows live events until
the log is closed (the job ended). Appending never waits for watchers: each watcher reads the shared
list at its own pace, so a slow one holds no copy of anything and slows no one down.
An event is handed to the `persist` callback (the job store) before anyone can see it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from train_svc.jobs.events import JobEvent


@dataclass(frozen=True)
class LoggedEvent:
    sequence: int
    time: datetime
    event: JobEvent


class EventLog:
    def __init__(
        self, restored: list[LoggedEvent] | None = None, persist: Callable[[LoggedEvent], None] = lambda logged: None
    ) -> None:
        """`restored`: the events of a job recorded before a restart, in sequence order."""
        self._events: list[LoggedEvent] = list(restored or ())
        if any(logged.sequence != number for number, logged in enumerate(self._events, start=1)):
            raise ValueError("restored events must be numbered 1, 2, ... without gaps")
        self._persist = persist
        self._append_lock = threading.Lock()  # numbers and stores events; readers never wait for the store
        self._closed = False
        self._interrupted = False
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def append(self, event: JobEvent) -> LoggedEvent:
        with self._append_lock:
            if self._closed:
                raise RuntimeError("event log is closed")
            logged = LoggedEvent(len(self._events) + 1, datetime.now(UTC), event)
            self._persist(logged)
            with self._lock:
                self._events.append(logged)
                waiters = list(self._waiters)
        self._wake(waiters)
        return logged

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
        self._wake(waiters)

    def interrupt(self) -> None:
        """End every follower once it has caught up, although the log stays open (the service is stopping)."""
        with self._lock:
            self._interrupted = True
            waiters = list(self._waiters)
        self._wake(waiters)

    @staticmethod
    def _wake(waiters) -> None:
        """Set every waiter's flag, with one wake-up per event loop however many watchers it serves."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
        for loop, flag in waiters:
            by_loop.setdefault(loop, []).append(flag)
        for loop, flags in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_set_all, flags)

    @property
    def closed(self) -> bool:
        """The job has ended: no event will follow."""
        with self._lock:
            return self._closed

    @property
    def last_sequence(self) -> int:
        with self._lock:
            return len(self._events)

    async def follow(self, after: int = 0, idle_seconds: float | None = None) -> AsyncIterator[LoggedEvent | None]:
        """Every event after sequence `after`, then live ones until the log closes (or is interrupted); with
        `idle_seconds`, None whenever that long passes without an event (a heartbeat for the caller)."""
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()
        waiter = (loop, flag)
        position = max(after, 0)
        try:
            while True:
                with self._lock:
                    batch = self._events[position:]
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
                try:
                    await asyncio.wait_for(flag.wait(), idle_seconds)
                except TimeoutError:
                    yield None
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def _set_all(flags: list[asyncio.Event]) -> None:
    for flag in flags:
        flag.set()
