"""Consume a blocking generator from asyncio without blocking the event loop.

A dedicated thread drives the generator and hands each item to the loop, at most `max_pending` items
ahead of the consumer: a slow reader (e.g. a client receiving bundle bytes) holds the generator back
instead of letting items pile up in memory. When the async consumer stops early (the RPC was
cancelled, the client went away), the thread is told to stop, and it closes the generator after the
item in progress, so the generator's own clean-up runs in the thread that iterated it. The thread runs in
a copy of the consumer's context (contextvars: structlog's bound values, the current span).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Generator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.1  # how often a thread waiting for room checks whether the consumer has gone


async def iterate_in_thread(
    gen: Generator[T, None, None], name: str = "blocking-iterator", max_pending: int = 16
) -> AsyncIterator[T]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()
    room = threading.Semaphore(max_pending)

    def put(item: object) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def drive() -> None:
        try:
            for item in gen:
                while not room.acquire(timeout=_POLL_S):
                    if stop.is_set():
                        return
                if stop.is_set():
                    break
                put(item)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)
        finally:
            gen.close()
            put(_DONE)

    # The caller's context goes along: the generator's log lines carry its bound ids and current span.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(drive,), name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            room.release()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
