"""The shared tail of the event log: one reader of the database per process for every stream.

However many streams are open, one task reads the events after its last seq once each time
it is woken (`EventFeed`: a commit in this process appended events) or every `poll_s` (commits
of other processes), and offers every row to each subscription's bounded buffer. Streams never
query the database for live events; only a stream that replays from an old seq reads pages
itself, until it reaches the tail (follow.py).

`position` and the set of subscriptions change only between awaits, together with the
fan-out: a subscription made when the position is P receives exactly the events after P.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.db import Database
from app.event_feed import EventFeed
from inbound.stream.events import PAGE_ROWS, last_seq, read_page
from inbound.stream.reader import Subscription

log = logging.getLogger(__name__)


class EventTail:
    def __init__(
        self, database: Database, feed: EventFeed, *, poll_s: float, autorun: bool = True
    ) -> None:
        """`autorun` False: no task is started; tests move the tail with `step()`."""
        self.database = database
        self.feed = feed
        self.poll_s = poll_s
        self.autorun = autorun
        self._position: int | None = None
        self._subscriptions: set[Subscription] = set()
        self._starting: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # Open streams (replaying or live): what [event_stream] max_readers bounds.
        self.readers = 0
        self._no_readers = asyncio.Event()
        self._no_readers.set()

    @property
    def position(self) -> int:
        """The last seq the tail has read (and offered to its subscriptions)."""
        if self._position is None:
            raise RuntimeError("the tail is not started")
        return self._position

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def subscriptions(self) -> int:
        return len(self._subscriptions)

    async def start(self) -> None:
        """Start at the newest event (once; later calls return at once). Started by the
        lifespan, or lazily by the first stream (apps built without workers, in tests)."""
        if self._position is not None or self._closed:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._position is not None or self._closed:
                return
            self._position = await last_seq(self.database)
            if self.autorun:
                self._task = asyncio.create_task(self._run(), name="event-stream-tail")

    def reader_opened(self) -> None:
        self.readers += 1
        self._no_readers.clear()

    def reader_closed(self) -> None:
        self.readers -= 1
        if self.readers == 0:
            self._no_readers.set()

    def subscribe(self, subscription: Subscription) -> int:
        """From now on `subscription` is offered every event after the returned seq."""
        if self._closed:
            subscription.end("shutdown")
            return self._position or 0
        self._subscriptions.add(subscription)
        return self.position

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def step(self) -> int:
        """Read the events after the position (one page) and offer them to every
        subscription; the number read."""
        page = await read_page(self.database, self.position, PAGE_ROWS)
        # No await from here on: the position moves with the fan-out, as one step.
        for event in page:
            for subscription in list(self._subscriptions):
                if not subscription.offer(event):
                    self._subscriptions.discard(subscription)
        if page:
            self._position = page[-1].seq
        return len(page)

    async def _run(self) -> None:
        failing = False
        while True:
            generation = self.feed.generation
            try:
                read = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage: the next round tries again
                if not failing:
                    log.warning("event stream: reading the event log failed: %r", exc)
                failing = True
                await asyncio.sleep(self.poll_s)
                continue
            if failing:
                log.info("event stream: reading the event log works again")
                failing = False
            if read < PAGE_ROWS:
                await self.feed.wait(generation, self.poll_s)

    async def close(self, wait_s: float = 0) -> None:
        """Stop the task; every open stream ends (reason `shutdown`). `wait_s`: wait up to
        that long for them to have sent their last frame (a server about to close its
        connections)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscription in list(self._subscriptions):
            subscription.end("shutdown")
        self._subscriptions.clear()
        # (A stream still replaying ends at its next read: it finds the tail closed.)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._no_readers.wait()
