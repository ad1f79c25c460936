"""Events committed straight into the log, and readers' views of them, for the stream tests."""

from __future__ import annotations

from app.db import Database
from app.events import append_event
from app.models import utcnow
from inbound.stream.events import EventFilter
from inbound.stream.follow import Follower
from inbound.stream.tail import EventTail


async def commit_events(
    database: Database, count: int, *, type_: str = "message.sent", instance: int | None = 1
) -> list[int]:
    """`count` events in one transaction; their seqs."""
    async with database.write() as session:
        rows = [
            await append_event(session, type_, now=utcnow(), instance=instance, data={"n": n})
            for n in range(count)
        ]
        await session.flush()
        seqs = [row.seq for row in rows]
    assert all(seq is not None for seq in seqs)
    return [int(seq) for seq in seqs if seq is not None]


async def drain(follower: Follower) -> list[int]:
    """Every seq the follower hands out until none is waiting."""
    seqs = []
    while (event := await follower.next(0)) is not None:
        seqs.append(event.seq)
    return seqs


def follower(
    tail: EventTail, after: int | None, *, max_buffered: int = 1000, **wanted: object
) -> Follower:
    return Follower(tail, EventFilter(**wanted), after, max_buffered)  # type: ignore[arg-type]
