"""A job's ordered event log: appended by the worker thread, followed by any number of async watchers.

Every event gets the next job-wide sequence number (from 1, no gaps). A watcher asks for everything
after a sequence number: it first receives what is already recorded, then follows live events until
the log is closed (the job ended). Appending never waits for watchers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from train_svc.jobs.events import JobEvent


@dataclass(frozen=True)
class LoggedEvent:
    sequence: int
    time: datetime
    event: JobEvent


class EventLog:
    def __init__(self) -> None:
        self._events: list[LoggedEvent] = []
        self._closed = False
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def append(self, event: JobEvent) -> LoggedEvent:
        with self._lock:
            if self._closed:
                raise RuntimeError("event log is closed")
            logged = LoggedEvent(len(self._events) + 1, datetime.now(UTC), event)
            self._events.append(logged)
            waiters = list(self._waiters)
        self._wake(waiters)
        return logged

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
        self._wake(waiters)

    @staticmethod
    def _wake(waiters) -> None:
        for loop, flag in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(flag.set)

    def snapshot(self, after: int = 0) -> list[LoggedEvent]:
        with self._lock:
            return self._events[max(after, 0) :]

    @property
    def last_sequence(self) -> int:
        with self._lock:
            return len(self._events)

    async def follow(self, after: int = 0) -> AsyncIterator[LoggedEvent]:
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()
        waiter = (loop, flag)
        position = max(after, 0)
        try:
            while True:
                with self._lock:
                    batch = self._events[position:]
                    closed = self._closed
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
                await flag.wait()
        finally:
            with self._lock:
                self._waiters.discard(waiter)
