"""One open stream's subscription to the shared tail: a bounded buffer, never more.

The tail offers each new event to every subscription without waiting (`offer`); a reader
that has fallen `max_buffered` events behind is not buffered further: it is marked
overflowed, its buffer is freed, and the stream ends with a reason (it resumes from the last
seq it sent, so nothing is lost).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from inbound.stream.events import StreamEvent


class StreamEnded(Exception):
    """The stream cannot go on: `reason` is `slow_reader` or `shutdown`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Subscription:
    def __init__(self, wants: Callable[[StreamEvent], bool], max_buffered: int) -> None:
        self._wants = wants
        self._max = max_buffered
        self._buffer: deque[StreamEvent] = deque()
        self._changed = asyncio.Event()
        # Set once; the tail offers nothing more after it.
        self.ended: str | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def offer(self, event: StreamEvent) -> bool:
        """Called by the tail for each new event; False once this subscription is over."""
        if self.ended is not None:
            return False
        if not self._wants(event):
            return True
        if len(self._buffer) >= self._max:
            self.end("slow_reader")
            return False
        self._buffer.append(event)
        self._changed.set()
        return True

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            self._buffer.clear()  # what was buffered is read again on resume
            self._changed.set()

    async def take(self, timeout_s: float) -> StreamEvent | None:
        """The next buffered event; None after `timeout_s` without one. Raises StreamEnded
        once the subscription was ended (what was still buffered is dropped with it)."""
        while True:
            if self.ended is not None:
                raise StreamEnded(self.ended)
            if self._buffer:
                return self._buffer.popleft()
            self._changed.clear()
            try:
                async with asyncio.timeout(max(0.0, timeout_s)):
                    await self._changed.wait()
            except TimeoutError:
                return None
