"""How far the event log was pruned (`pruned_events`): written by the retention job in the
transaction of each deletion (`advance`), read by the log's readers (`pruned_through`).

A reader that asks for the events after a seq below it may have missed some: the event
stream says so with a `pruned` frame, a pull queue's `next` and GET /api/v1/events with a
`pruned_through` field. Events a delivery still held may be left below it; none above it
was deleted by retention.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PrunedEvents, table_of

W = table_of(PrunedEvents)
WATERMARK_ID = 1


def advance(conn: Connection, through_seq: int, now: datetime) -> None:
    """The log is pruned through `through_seq` (never moves back); in the caller's
    transaction (the one that deleted). Only the retention job writes it, under its lock
    (PostgreSQL) or as SQLite's one writer."""
    moved = conn.execute(
        update(W)
        .where(W.c.id == WATERMARK_ID, W.c.through_seq < through_seq)
        .values(through_seq=through_seq, pruned_at=now)
    ).rowcount
    if moved:
        return
    if conn.execute(select(W.c.id).where(W.c.id == WATERMARK_ID)).first() is None:
        conn.execute(W.insert().values(id=WATERMARK_ID, through_seq=through_seq, pruned_at=now))


async def pruned_through(session: AsyncSession) -> int:
    """The highest seq retention deleted (0: the log was never pruned)."""
    found = await session.scalar(select(W.c.through_seq).where(W.c.id == WATERMARK_ID))
    return int(found or 0)


def missed(after: int, watermark: int) -> int | None:
    """What a reader resuming after `after` is told: the watermark if events after `after`
    may be gone, else None."""
    return watermark if watermark > after else None
