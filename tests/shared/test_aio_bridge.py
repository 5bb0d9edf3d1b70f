"""A blocking generator consumed from asyncio: bounded read-ahead, early stop closes the generator."""

from __future__ import annotations

import asyncio
import threading
import time

from shared.aio_bridge import iterate_in_thread


def test_the_generator_runs_at_most_max_pending_items_ahead_of_a_slow_consumer() -> None:
    produced: list[int] = []

    def numbers():
        for i in range(100):
            produced.append(i)
            yield i

    async def consume() -> tuple[list[int], int]:
        seen = []
        async for item in iterate_in_thread(numbers(), max_pending=4):
            if not seen:
                await asyncio.sleep(0.5)  # a stalled reader: the thread must wait for room
                ahead = len(produced)
            seen.append(item)
        return seen, ahead

    seen, ahead = asyncio.run(consume())
    assert seen == list(range(100))
    assert ahead <= 6  # the 4 queued + the one taken + the one waiting for room


def test_stopping_early_closes_the_generator_in_its_own_thread() -> None:
    closed_in: list[str] = []

    def endless():
        try:
            while True:
                yield 1
        finally:
            closed_in.append(threading.current_thread().name)

    async def take_three() -> None:
        stream = iterate_in_thread(endless(), name="bridge-test", max_pending=2)
        count = 0
        async for _ in stream:
            count += 1
            if count == 3:
                break
        await stream.aclose()

    asyncio.run(take_three())
    deadline = time.monotonic() + 5
    while not closed_in and time.monotonic() < deadline:
        time.sleep(0.02)
    assert closed_in == ["bridge-test"]
