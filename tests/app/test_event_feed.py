"""EventFeed wakes every waiting reader, and one that was busy when it fired still sees it."""

from __future__ import annotations

import asyncio

from app.event_feed import EventFeed


async def test_notify_wakes_every_waiting_reader() -> None:
    feed = EventFeed()
    seen = feed.generation
    waiters = [asyncio.create_task(feed.wait(seen, 5.0)) for _ in range(3)]
    await asyncio.sleep(0)
    feed.notify()
    assert await asyncio.gather(*waiters) == [True, True, True]


async def test_a_reader_busy_during_the_notify_does_not_sleep_through_it() -> None:
    feed = EventFeed()
    seen = feed.generation
    feed.notify()  # fired while the reader was reading, before it waits again
    assert await feed.wait(seen, 5.0) is True


async def test_without_a_notify_the_wait_times_out() -> None:
    feed = EventFeed()
    assert await feed.wait(feed.generation, 0.01) is False
