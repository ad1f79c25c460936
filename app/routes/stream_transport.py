"""Carrying a stream of events to its reader: as Server-Sent Events or over a WebSocket.

`pump` is the loop both share: the next event the reader wants (inbound/stream/follow.py), a
heartbeat when none came for `heartbeat_s`, and an end with a reason and the seq to resume
after. The transports differ only in how they write each of these, and in how they notice
that the reader went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.errors import DatabaseUnavailable
from app.routes.event_stream_schemas import StreamEnd, StreamPruned
from app.routes.surface import close_reason
from inbound.stream.events import StreamEvent
from inbound.stream.follow import Follower
from inbound.stream.reader import StreamEnded
from inbound.stream.tail import EventTail

log = logging.getLogger(__name__)

# How long the last frame (why the stream ends) may take to go out to a reader that is not
# reading: it is not waited on longer than this.
FINAL_WRITE_S = 5.0
# WebSocket close codes: a slow reader (application range, 4000-4999) and a shutdown (RFC 6455
# 1012, service restart).
CLOSE_SLOW_READER = 4008
CLOSE_SHUTDOWN = 1012
CLOSE_NORMAL = 1000
CLOSE_UNAVAILABLE = 1011  # an error on the server's side (the database)
# Ends the reader did not ask for (an SSE `event: dropped`); the others are `event: end`.
DROPPED = ("slow_reader", "shutdown", "unavailable")


class Sink(Protocol):
    async def event(self, event: StreamEvent, body: bytes) -> None: ...
    async def pruned(self, pruned: StreamPruned) -> None: ...
    async def heartbeat(self) -> None: ...
    async def end(self, end: StreamEnd) -> None: ...


@dataclass(frozen=True)
class Bounds:
    heartbeat_s: float
    duration_s: float  # the smaller of ?max_s and [event_stream] max_connection_s
    duration_reason: str  # "max_s" or "max_connection_s"
    limit: int | None


async def pump(
    follower: Follower, sink: Sink, bounds: Bounds, render: Callable[[StreamEvent], bytes]
) -> None:
    """Send what `follower` yields to `sink` until a bound is reached, the reader is too slow
    or the server stops; then the end, with the seq to resume after."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bounds.duration_s
    sent = 0
    try:
        await follower.start()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                reason = bounds.duration_reason
                break
            event = await follower.next(min(bounds.heartbeat_s, remaining))
            pruned = follower.take_pruned()
            if pruned is not None:
                await sink.pruned(StreamPruned(pruned_through=pruned))
            if event is None:
                if deadline - loop.time() > 0:
                    await sink.heartbeat()
                continue
            await sink.event(event, event.encoded(render))
            sent += 1
            if bounds.limit is not None and sent >= bounds.limit:
                reason = "limit"
                break
    except StreamEnded as ended:
        reason = ended.reason
    except (SQLAlchemyError, sqlite3.Error, OSError, DatabaseUnavailable) as exc:
        # The database went away while this stream was catching up: it ends, and the reader
        # resumes where it was once the database is back.
        log.warning("event stream: ended by %r", exc)
        reason = "unavailable"
    finally:
        follower.close()
    # The reader may be gone already, or not reading: the end is a courtesy, not waited on.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(FINAL_WRITE_S):
            await sink.end(StreamEnd(reason=reason, resume_after=follower.cursor))


def _end_body(end: StreamEnd | StreamPruned) -> bytes:
    return orjson.dumps(end.model_dump())


class SseSink:
    """`id: <seq>`, `event: <type>`, `data: <the event's JSON>`; heartbeats are comment lines;
    `event: pruned` with a StreamPruned when retention made a gap;
    the end is `event: dropped` (slow_reader, shutdown) or `event: end` (a bound was reached),
    whose data is {"reason", "resume_after"}."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        self.write = write

    async def event(self, event: StreamEvent, body: bytes) -> None:
        frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), body)
        await self.write(frame)

    async def pruned(self, pruned: StreamPruned) -> None:
        await self.write(b"event: pruned\ndata: %s\n\n" % _end_body(pruned))

    async def heartbeat(self) -> None:
        await self.write(b": heartbeat\n\n")

    async def end(self, end: StreamEnd) -> None:
        kind = b"dropped" if end.reason in DROPPED else b"end"
        await self.write(b"event: %s\ndata: %s\n\n" % (kind, _end_body(end)))


class EventStreamResponse(Response):
    """A text/event-stream answer written by `run` (given the function that writes a chunk);
    it stops as soon as the client disconnects, and releases its reader slot however it
    ends."""

    media_type = "text/event-stream"

    def __init__(
        self, run: Callable[[SseSink], Awaitable[None]], release: Callable[[], None]
    ) -> None:
        # As StreamingResponse: no body attribute, so no Content-Length.
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.run = run
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

            async def write(chunk: bytes) -> None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

            # A comment first: the headers and a first byte reach the client (and proxies)
            # before any event does.
            await write(b": stream open\n\n")
            if await _first_done(self.run(SseSink(write)), _disconnected(receive)):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.release()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _first_done(work: Awaitable[None], watch: Awaitable[None]) -> bool:
    """Run `work` until it ends or `watch` does (the reader went away); True if `work` ended."""
    worker = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(watch)
    try:
        await asyncio.wait((worker, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (worker, watcher):
            task.cancel()
        await asyncio.gather(worker, watcher, return_exceptions=True)
    if worker.done() and not worker.cancelled() and worker.exception() is not None:
        raise worker.exception()  # type: ignore[misc]
    return worker.done() and not worker.cancelled()


class WebSocketSink:
    """Each event's JSON as a text frame; a heartbeat is the text frame {"type":"heartbeat"};
    a gap retention made the frame {"type":"pruned","pruned_through":seq};
    the end is a close: 4008 (slow_reader), 1012 (shutdown) or 1000 (a bound was reached),
    whose reason is {"reason", "resume_after"} as JSON."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def event(self, event: StreamEvent, body: bytes) -> None:
        await self.websocket.send_text(body.decode())

    async def pruned(self, pruned: StreamPruned) -> None:
        await self.websocket.send_text(_end_body(pruned).decode())

    async def heartbeat(self) -> None:
        await self.websocket.send_text('{"type":"heartbeat"}')

    async def end(self, end: StreamEnd) -> None:
        code = {
            "slow_reader": CLOSE_SLOW_READER,
            "shutdown": CLOSE_SHUTDOWN,
            "unavailable": CLOSE_UNAVAILABLE,
        }.get(end.reason, CLOSE_NORMAL)
        await self.websocket.close(code, close_reason(_end_body(end).decode()))


async def serve_websocket(
    websocket: WebSocket, run: Callable[[WebSocketSink], Awaitable[None]]
) -> None:
    """Run the stream on an accepted WebSocket until it ends or the reader closes it (what
    the reader sends is read and ignored)."""

    async def until_closed() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return

    await _first_done(run(WebSocketSink(websocket)), until_closed())


def reserve_reader(tail: EventTail, max_readers: int) -> bool:
    """Count one more open stream, unless `max_readers` are open already."""
    if tail.readers >= max_readers:
        return False
    tail.reader_opened()
    return True


def release_reader(tail: EventTail) -> Callable[[], None]:
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            tail.reader_closed()

    return release
