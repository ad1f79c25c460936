"""The send queue's shared core: building queue rows and waking the worker.

Both the HTTP side (outbound) and the registration dialogue (inbound) put messages on the queue,
so the row constructor lives here, in the core they both import.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from app.models import Message

T = TypeVar("T")


def new_random_id() -> int:
    """Telegram's random_id is a signed 64-bit integer; positive ones are enough."""
    return secrets.randbits(63) or 1


class QueueClock:
    """`created_at` stamps that strictly increase within the process.

    The queue is FIFO by created_at; two messages stamped in the same microsecond would have no
    order between them, and a conversation could come out shuffled.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._last: datetime | None = None

    def __call__(self) -> datetime:
        now = self._clock()
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now


def message_row(
    *,
    instance: int,
    kind: str,
    now: datetime,
    created_at: datetime | None = None,
    origin: str = "api",
    client_id: str | None = None,
    to_number: str | None = None,
    recipient_user_id: int | None = None,
    recipient_access_hash: int | None = None,
    group_name: str | None = None,
    group_admin: str | None = None,
    text: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    mime_type: str | None = None,
    media_id: str | None = None,
    media_size: int | None = None,
    media_sha256: str | None = None,
    reply_to: str | None = None,
    reply_to_telegram_id: int | None = None,
    details: str | None = None,
    silent: bool = False,
    link_preview: bool = True,
    expires_at: datetime | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """Every column of a new queue row (Core inserts need the same keys in every row)."""
    return {
        "id": str(uuid.uuid4()),
        "instance": instance,
        "origin": origin,
        "client_id": client_id,
        "to_number": to_number,
        "recipient_user_id": recipient_user_id,
        "recipient_access_hash": recipient_access_hash,
        "group_name": group_name,
        "group_admin": group_admin,
        "kind": kind,
        "text": text,
        "caption": caption,
        "filename": filename,
        "mime_type": mime_type,
        "media_id": media_id,
        "media_size": media_size,
        "media_sha256": media_sha256,
        "reply_to": reply_to,
        "reply_to_telegram_id": reply_to_telegram_id,
        "details": details,
        "silent": silent,
        "link_preview": link_preview,
        "status": "queued",
        "error_code": None,
        "error_detail": None,
        "random_id": new_random_id(),
        "telegram_message_id": None,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": created_at or now,
        "sent_at": None,
        "read_at": None,
        "failed_at": None,
        "expires_at": expires_at,
        "callback_url": callback_url,
    }


def new_message(**fields: Any) -> Message:
    """A queue row as an ORM object, for the code paths that work with a session."""
    return Message(**message_row(**fields))


class Wakeup:
    """Nudges (a new message for instance N) so workers need not poll fast.

    In-process by default. On PostgreSQL a relay (app/wakeups.py) also carries each `notify`
    to the other processes of the deployment, and while it is connected `fallback_s` is set:
    workers then poll only that slowly (`poll_cap`). Without it they poll as before, which
    covers rows written by other processes.
    """

    def __init__(self) -> None:
        self._events: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._handlers: dict[str, list[Callable[[], None]]] = {}
        # Carries a topic to the other processes (never blocks, never raises).
        self.relay: Callable[[str], None] | None = None
        # Set while the other processes' notifications reach this one.
        self.fallback_s: float | None = None

    def notify(self, topic: str, *, local: bool = False) -> None:
        """Wake `topic` here and, unless `local`, in the other processes."""
        self.wake(topic)
        if not local and self.relay is not None:
            self.relay(topic)

    def wake(self, topic: str) -> None:
        """Wake `topic` in this process only (its waiter and handlers)."""
        self._events[topic].set()
        for handler in self._handlers.get(topic, ()):
            handler()

    def wake_all(self) -> None:
        """Wake every topic this process knows (notifications may have been lost)."""
        for topic in list({*self._events, *self._handlers}):
            self.wake(topic)

    def on(self, topic: str, handler: Callable[[], None]) -> None:
        """Call `handler` whenever `topic` wakes here (a broadcast: app/wakeups.py)."""
        self._handlers.setdefault(topic, []).append(handler)

    def poll_cap(self, default_s: float) -> float:
        """How long a worker may wait for a wake-up before it looks anyway: `default_s`, or
        the slower fallback while other processes' notifications reach this one."""
        return default_s if self.fallback_s is None else max(default_s, self.fallback_s)

    async def wait(self, topic: str, timeout_s: float) -> bool:
        event = self._events[topic]
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await event.wait()
        except TimeoutError:
            return False
        finally:
            event.clear()
        return True


def settle(futures: Iterable[asyncio.Future[T]], outcomes: Iterable[T | BaseException]) -> None:
    """Answer each waiting caller of a group commit with its own outcome (a result or the
    exception it raised); a caller that gave up already (cancelled) is skipped."""
    for future, outcome in zip(futures, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
