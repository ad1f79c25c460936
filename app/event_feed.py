"""Telling every waiting reader of the event log that new events were committed.

`Wakeup` (app/queueing.py) wakes one worker per topic; the event stream and the pull queues
have many readers at once, each of which must see every commit. `EventFeed` is a broadcast:
`notify()` wakes everyone waiting, and a reader that was busy when it fired still sees that it
fired (by the generation number), so no commit is slept through.

It is a hint, not the data: readers read the event log itself (by seq) after waking, and still
look every few seconds, which covers events committed by another process.
"""

from __future__ import annotations

import asyncio


class EventFeed:
    def __init__(self) -> None:
        self._generation = 0
        self._fired = asyncio.Event()

    @property
    def generation(self) -> int:
        """Changes on every `notify()`: take it before reading, pass it to `wait()` after."""
        return self._generation

    def notify(self) -> None:
        """New events were committed (called after the commit, on the event loop)."""
        self._generation += 1
        fired, self._fired = self._fired, asyncio.Event()
        fired.set()

    async def wait(self, seen_generation: int, timeout_s: float) -> bool:
        """Wait until a `notify()` later than `seen_generation` (at once if one happened
        already), or `timeout_s`; True if there was one."""
        if self._generation != seen_generation:
            return True
        fired = self._fired
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await fired.wait()
        except TimeoutError:
            return False
        return True
