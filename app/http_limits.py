"""Slow and stalled clients are cut off: bounded header and body reads, answered 408.

uvicorn bounds idle kept-alive connections (`timeout_keep_alive`) and the number of
connections (`limit_concurrency`, 503 past it), but it waits for ever for the headers of a
request that never completes, and hands the application a body however slowly it comes. So:

- `header_deadline_protocol` makes a subclass of uvicorn's HTTP/1.1 protocol (httptools when it
  is installed, as uvicorn's "auto" picks, else h11) that starts a clock when a connection opens,
  and again at the first byte of each later request on it. If the request's headers are not
  complete `header_timeout_s` later, it writes a 408 and closes the connection. "Complete" is
  told without touching the parser: both implementations make a new `cycle` (request-response
  object) the moment the headers are parsed.
- `BodyDeadline` (ASGI middleware) bounds the body: it must arrive whole within
  `body_timeout_s` of the first read, and once `min_body_rate_after_s` have passed, the bytes
  received must keep up with `min_body_rate_bytes_s` on average since that first read (like
  Apache's mod_reqtimeout MinRate). A body that falls behind is answered 408 in the error shape
  of its surface, with `Connection: close`. The route sees the client as gone (`http.disconnect`)
  and stops; its own answer is replaced by the 408.

Both cost almost nothing on the fast path: one timer per connection and request, and a request
whose body is already there passes one `asyncio.timeout` per read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ApiError

log = logging.getLogger(__name__)

TIMEOUT_CODE = "request_timeout"


def _raw_408(message: str) -> bytes:
    body = orjson.dumps({"error": {"code": TIMEOUT_CODE, "message": message}})
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


# --- the headers: a clock on the connection --------------------------------------------------


class _Parsing(Protocol):
    """What the clock needs of uvicorn's H11Protocol and HttpToolsProtocol."""

    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop


class _HeaderClock:
    """Armed while a connection waits for a request's headers; on expiry: 408 and close."""

    __slots__ = ("_protocol", "_response", "_timeout_s", "_timer", "_waiting_on")

    def __init__(self, protocol: _Parsing, timeout_s: float) -> None:
        self._protocol = protocol
        self._timeout_s = timeout_s
        self._timer: asyncio.TimerHandle | None = None
        # The request-response cycle that was current when the clock started: the headers are
        # complete once the protocol made another one.
        self._waiting_on: Any = None
        self._response = _raw_408(f"The request headers did not arrive within {timeout_s:g} s")

    def start(self) -> None:
        if self._timer is None:
            self._waiting_on = self._protocol.cycle
            self._timer = self._protocol.loop.call_later(self._timeout_s, self._expired)

    def before_data(self) -> None:
        """Bytes came: on an idle connection they begin a request, whose headers are timed.
        (While a request is being answered, pipelined bytes are not: the keep-alive timeout
        bounds what follows.)"""
        cycle = self._protocol.cycle
        if cycle is None or cycle.response_complete:
            self.start()

    def after_data(self) -> None:
        if self._timer is not None and self._protocol.cycle is not self._waiting_on:
            self.stop()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        protocol = self._protocol
        transport = protocol.transport
        current: object = transport.get_protocol()
        if transport.is_closing() or current is not protocol:
            return  # closed, or upgraded to another protocol
        if protocol.cycle is not self._waiting_on:
            return  # the headers came with the last bytes
        log.debug("closing a connection whose request headers did not arrive in time")
        transport.write(self._response)
        transport.close()


def header_deadline_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class (as its "auto" picks it), with the header clock."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

    class HeaderDeadlineProtocol(Base):
        _clock: _HeaderClock

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._clock = _HeaderClock(self, header_timeout_s)
            self._clock.start()

        def data_received(self, data: bytes) -> None:
            self._clock.before_data()
            super().data_received(data)
            self._clock.after_data()

        def connection_lost(self, exc: Exception | None) -> None:
            self._clock.stop()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


# --- the body: a deadline on each read --------------------------------------------------------


def _may_have_body(scope: Scope) -> bool:
    """HTTP/1.1: a request has a body only with Content-Length (> 0) or Transfer-Encoding."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _TimedBody:
    __slots__ = ("_limits", "_receive", "_started", "done", "expired", "received")

    def __init__(self, receive: Receive, limits: BodyDeadline) -> None:
        self._receive = receive
        self._limits = limits
        self._started: float | None = None
        self.received = 0
        self.done = False  # the whole body was read: later reads wait for a disconnect
        self.expired = False

    async def __call__(self) -> Message:
        if self.expired:
            return {"type": "http.disconnect"}
        if self.done:
            return await self._receive()
        limits = self._limits
        now = asyncio.get_running_loop().time()
        if self._started is None:
            self._started = now
        # Behind the minimum rate once the grace is over, or past the whole bound: cut.
        allowed = max(limits.min_rate_after_s, self.received / limits.min_rate_bytes_s)
        deadline = self._started + min(limits.timeout_s, allowed)
        try:
            async with asyncio.timeout_at(deadline):
                message = await self._receive()
        except TimeoutError:
            self.expired = True
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.done = True
        return message


class BodyDeadline:
    """ASGI middleware: a request body that comes too slowly or stalls is answered 408."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout_s: float,
        min_rate_bytes_s: float,
        min_rate_after_s: float,
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.min_rate_bytes_s = min_rate_bytes_s
        self.min_rate_after_s = min_rate_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_have_body(scope):
            await self.app(scope, receive, send)
            return
        body = _TimedBody(receive, self)
        responded = False

        async def guarded_send(message: Message) -> None:
            nonlocal responded
            if body.expired:
                return  # the route's own answer to the "disconnect": the 408 replaces it
            if message["type"] == "http.response.start":
                responded = True
                # Answering without the rest of the body: reads from now on wait untimed.
                body.done = True
            await send(message)

        try:
            await self.app(scope, body, guarded_send)
        except Exception:
            if not body.expired:
                raise
        if body.expired and not responded:
            log.debug("%s %s: the request body came too slowly", scope["method"], scope["path"])
            await self._answer_408(scope, send)

    async def _answer_408(self, scope: Scope, send: Send) -> None:
        error = ApiError(
            TIMEOUT_CODE,
            f"The request body did not arrive in time (within {self.timeout_s:g} s, and at"
            f" {self.min_rate_bytes_s:g} bytes/s or more after the first"
            f" {self.min_rate_after_s:g} s); nothing was accepted",
        )
        path: str = scope["path"]
        whatsmate = path.startswith(("/v3/", "/v1/"))
        payload = orjson.dumps(error.whatsmate_body() if whatsmate else error.native_body())
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
