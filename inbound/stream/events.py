"""What the stream carries: event rows read by seq, and which of them a reader wants."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.models import Event, table_of
from app.retention.watermark import pruned_through

EVENTS = table_of(Event)
# A reader that is catching up reads the log in pages of this many rows.
PAGE_ROWS = 500


@dataclass(eq=False)
class StreamEvent:
    """One row of the event log, as read once by the tail (or by a reader catching up).

    The same object goes to every reader; its JSON body is rendered once, by the first reader
    that sends it (`encoded`), and shared by the rest."""

    seq: int
    type: str
    id: str
    instance: int | None
    created_at: datetime
    payload: str
    _body: bytes | None = field(default=None, repr=False)

    def encoded(self, render: Callable[[StreamEvent], bytes]) -> bytes:
        if self._body is None:
            self._body = render(self)
        return self._body


@dataclass(frozen=True)
class EventFilter:
    """The events a reader asked for: some types (None: all), and some instances (None: all).

    `instances` is what the reader may see and asked for together. An event that belongs to
    no instance (`instance` None) is kept unless the reader named an instance itself
    (`?instance=`): such events concern the whole deployment, and a key limited to some
    instances still sees them (GET /api/v1/events shows them too)."""

    types: frozenset[str] | None = None
    instances: frozenset[int] | None = None
    named_instance: bool = False

    def wants(self, event: StreamEvent) -> bool:
        if self.types is not None and event.type not in self.types:
            return False
        if event.instance is None:
            return not self.named_instance
        return self.instances is None or event.instance in self.instances


def limited_to(
    client_instances: Collection[int] | None, asked: int | None
) -> tuple[frozenset[int] | None, bool]:
    """The instances a stream shows: the client's key's limit cut down to `?instance=`."""
    allowed = None if client_instances is None else frozenset(client_instances)
    if asked is None:
        return allowed, False
    if allowed is not None and asked not in allowed:
        return frozenset(), True
    return frozenset({asked}), True


def _event(row: Any) -> StreamEvent:
    return StreamEvent(
        seq=row.seq,
        type=row.type,
        id=row.id,
        instance=row.instance,
        created_at=row.created_at,
        payload=row.payload,
    )


async def read_after(session: AsyncSession, after: int, limit: int) -> list[StreamEvent]:
    """Up to `limit` events with seq > `after`, in seq order."""
    query = select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(limit)
    return [_event(row) for row in (await session.execute(query)).all()]


async def read_page(database: Database, after: int, limit: int = PAGE_ROWS) -> list[StreamEvent]:
    async with database.read() as session:
        return await read_after(session, after, limit)


async def read_watermark(database: Database) -> int:
    """How far retention pruned the log (0: never)."""
    async with database.read() as session:
        return await pruned_through(session)


async def last_seq(database: Database) -> int:
    """The newest event's seq (0 for an empty log): where a stream without `after` starts."""
    async with database.read() as session:
        found = await session.scalar(select(func.max(EVENTS.c.seq)))
    return int(found or 0)
