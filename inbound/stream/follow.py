"""One stream: replay from a seq, then live from the shared tail, without gap or duplicate.

A stream that starts from an old seq reads the log itself, a page at a time, while it is
behind the tail; the tail is not asked to buffer for it. Once it has caught up it subscribes
(`EventTail.subscribe` returns the tail's position P at that instant, and from then on every
event after P goes to its buffer), and reads from the database only what lies between its own
position and P (events the tail had already offered before the subscription). Events it then
also finds in its buffer (seq not above what it sent) are skipped: seq order is commit order
(app/events.py), so "everything up to my seq" is a complete description of what was sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum

from inbound.stream.events import PAGE_ROWS, EventFilter, StreamEvent, read_page, read_watermark
from inbound.stream.reader import StreamEnded, Subscription
from inbound.stream.tail import EventTail

# Reads the events after a seq (at most a number of them): `read_page` on the database.
PageReader = Callable[[int, int], Awaitable[list[StreamEvent]]]
# Reads how far retention pruned the log (app/retention/watermark.py).
WatermarkReader = Callable[[], Awaitable[int]]


class Phase(Enum):
    REPLAY = "replay"  # reading pages on its own, not subscribed
    HANDOVER = "handover"  # subscribed at `until`; reading the events up to it
    LIVE = "live"  # everything comes from the buffer


class Follower:
    def __init__(
        self,
        tail: EventTail,
        wanted: EventFilter,
        after: int | None,
        max_buffered: int,
        *,
        read: PageReader | None = None,
        watermark: WatermarkReader | None = None,
    ) -> None:
        """`after` None: live from now (the tail's position when the stream starts)."""
        self.tail = tail
        self.wanted = wanted
        self._after = after
        self._read: PageReader = read or (lambda seq, n: read_page(tail.database, seq, n))
        self._watermark: WatermarkReader = watermark or (lambda: read_watermark(tail.database))
        # The pruned watermark, when a page was read from below it (events the reader never
        # got were deleted by retention): told once, before the next event (`take_pruned`).
        self._pruned: int | None = None
        self._told_pruned = 0
        self.subscription = Subscription(wanted.wants, max_buffered)
        self._pending: deque[StreamEvent] = deque()
        self._phase = Phase.REPLAY
        self._until = 0
        # Every event the reader wants up to this seq has been handed out: where the reader
        # resumes (`after` / Last-Event-ID) if the stream ends now.
        self.cursor = 0

    @property
    def phase(self) -> Phase:
        return self._phase

    def take_pruned(self) -> int | None:
        """The watermark to tell the reader (once) before what `next` returned, if any."""
        found, self._pruned = self._pruned, None
        return found

    async def start(self) -> None:
        await self.tail.start()
        if self.tail.closed:
            raise StreamEnded("shutdown")
        if self._after is None:
            self.cursor = self.tail.subscribe(self.subscription)
            self._phase = Phase.LIVE
        else:
            self.cursor = self._after

    def close(self) -> None:
        self.tail.unsubscribe(self.subscription)

    async def next(self, timeout_s: float) -> StreamEvent | None:
        """The next event the reader wants; None when none came for `timeout_s` (time for a
        heartbeat). Raises StreamEnded when the reader was too slow or the server stops."""
        while True:
            while self._pending:
                event = self._pending.popleft()
                if event.seq <= self.cursor:
                    continue
                self.cursor = event.seq
                if self.wanted.wants(event):
                    return event
            if self._phase is Phase.LIVE:
                found = await self.subscription.take(timeout_s)
                if found is None:
                    return None
                self._pending.append(found)
            elif self._phase is Phase.REPLAY:
                await self._replay()
            else:
                await self._hand_over()

    async def _replay(self) -> None:
        if self.tail.closed:
            raise StreamEnded("shutdown")
        if self.cursor < self.tail.position:
            page = await self._page()
            self._pending.extend(page)
            if len(page) == PAGE_ROWS:
                return  # far behind: stay on our own
        # Caught up (or nearly): from here on the tail buffers for us.
        self._until = self.tail.subscribe(self.subscription)
        self._phase = Phase.HANDOVER

    async def _hand_over(self) -> None:
        if self.subscription.ended is not None:
            raise StreamEnded(self.subscription.ended)
        if self.cursor < self._until:
            page = await self._page()
            # Events after `until` come through the buffer; those up to it were offered by
            # the tail before this stream subscribed, so they are read here.
            below = [event for event in page if event.seq <= self._until]
            if below:
                self._pending.extend(below)
                return
        # Nothing more up to `until` (a seq may be missing: an insert that was rolled back, or
        # an event retention deleted, told by `_page`).
        self.cursor = max(self.cursor, self._until)
        self._phase = Phase.LIVE

    async def _page(self) -> list[StreamEvent]:
        """The page after the cursor; then the watermark (read after the page, so a deletion
        that took events from the page is seen): past the cursor, events the reader never got
        were deleted."""
        page = await self._read(self.cursor, PAGE_ROWS)
        watermark = await self._watermark()
        if watermark > self.cursor and watermark > self._told_pruned:
            self._pruned = self._told_pruned = watermark
        return page
