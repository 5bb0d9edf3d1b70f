"""Async followers of a shared log (train_svc.jobs.event_log, train_svc.jobs.change_feed), on any number of
event loops, woken from whichever thread appends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]


def new_waiter() -> Waiter:
    """A waiter of the running event loop."""
    return asyncio.get_running_loop(), asyncio.Event()


def wake(waiters: Iterable[Waiter]) -> None:
    """Set every waiter's flag, with one call into each event loop however many followers it serves."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
    for loop, flag in waiters:
        by_loop.setdefault(loop, []).append(flag)
    for loop, flags in by_loop.items():
        if not loop.is_closed():
            loop.call_soon_threadsafe(_set_all, flags)


async def woken(flag: asyncio.Event, idle_seconds: float | None) -> bool:
    """Wait for `flag`; False when `idle_seconds` passed first."""
    try:
        await asyncio.wait_for(flag.wait(), idle_seconds)
    except TimeoutError:
        return False
    return True


def _set_all(flags: list[asyncio.Event]) -> None:
    for flag in flags:
        flag.set()
