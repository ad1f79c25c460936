"""Handing out a queue's events under a lease (`take`, `next_events`) and acknowledging them
(`ack`).

Every write is conditional on the `version` of the queue row that was read (optimistic
concurrency, the same on SQLite and PostgreSQL): two `take` calls that read the same position
cannot both commit, so one retries from the position the other left and no event is handed
out twice within a live lease. Reads take no lock, so a long poll costs no writer's turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlmodel import col

from app.db import Database
from app.errors import ApiError
from app.event_feed import EventFeed
from app.models import Event, EventQueue, table_of
from app.retention.watermark import missed, pruned_through
from inbound.event_queues.cursors import find_queue, last_seq, lease_is_live, matching

Q = table_of(EventQueue)
E = table_of(Event)

# How often a waiting `next` looks at the log even if this process committed nothing: events
# written by another process (a second `tgw serve`, `tgw` commands) and leases that expired.
RECHECK_S = 1.0
# A `take` that keeps losing to other readers of the same queue gives up (the caller's poll
# loop tries again): each loss means another reader made progress.
MAX_ATTEMPTS = 20

# Test seams: called between reading the queue and writing it (forces a race), and when a
# long poll found nothing and is about to wait.
BeforeWrite = Callable[[], Awaitable[None]]
Idle = Callable[[], None]
# True once the caller has gone (a client that gave up on its long poll).
Gone = Callable[[], Awaitable[bool]]


async def _noop() -> None:
    return None


@dataclass(frozen=True)
class Batch:
    """Events handed out, and until when they are leased (None: nothing handed out);
    `pruned_through`: the pruned watermark, when events after the position the batch was
    read from (and before its events) may have been deleted by retention."""

    events: list[Event]
    lease_expires_at: datetime | None
    pruned_through: int | None = None


async def take(
    database: Database,
    client_id: str,
    name: str,
    instances: Collection[int] | None,
    *,
    limit: int,
    now: datetime,
    before_write: BeforeWrite = _noop,
) -> Batch:
    """Up to `limit` events of the queue not handed out under a live lease, leased now."""
    for _ in range(MAX_ATTEMPTS):
        async with database.read() as session:
            queue = await find_queue(session, client_id, name)
            live = lease_is_live(queue, now)
            start = queue.leased_through_seq if live else queue.acked_seq
            # The top first: seq order is commit order, so every event up to it is committed
            # and nothing at or below it can appear later (skipping past it is safe).
            top = await last_seq(session)
            rows = list(
                await session.scalars(
                    select(Event)
                    .where(
                        and_(
                            col(Event.seq) > start,
                            col(Event.seq) <= top,
                            *matching(queue, instances),
                        )
                    )
                    .order_by(col(Event.seq))
                    .limit(limit)
                )
            )
            # After the rows: a deletion that took rows from this read is seen here.
            pruned = missed(start, await pruned_through(session))
        changes = _changes(queue, rows, top, start, live, now)
        if changes is None:
            return Batch([], None, pruned)
        await before_write()
        if await _write_if_unchanged(database, queue, changes):
            expires = changes.get("lease_expires_at") if rows else None
            return Batch(rows, expires, pruned)
    return Batch([], None)


def _changes(
    queue: EventQueue, rows: list[Event], top: int, start: int, live: bool, now: datetime
) -> dict[str, Any] | None:
    """The queue's new position after handing out `rows` (None: nothing to write)."""
    if rows:
        last = rows[-1].seq
        assert last is not None
        return {
            "leased_through_seq": last,
            "lease_expires_at": now + timedelta(seconds=queue.visibility_timeout_s),
        }
    if top <= start:
        return None
    # Nothing the queue wants up to `top`: step over those events so that later reads start
    # after them. Within a live lease the window grows (its expiry unchanged); otherwise they
    # are simply done.
    if live:
        return {"leased_through_seq": top}
    return {"acked_seq": top, "leased_through_seq": max(top, queue.leased_through_seq)}


async def _write_if_unchanged(
    database: Database, queue: EventQueue, changes: dict[str, Any]
) -> bool:
    async with database.write() as session:
        done = await session.execute(
            update(Q)
            .where(Q.c.id == queue.id, Q.c.version == queue.version)
            .values(**changes, version=Q.c.version + 1)
        )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


async def next_events(
    database: Database,
    feed: EventFeed,
    clock: Callable[[], datetime],
    client_id: str,
    name: str,
    instances: Collection[int] | None,
    *,
    limit: int,
    wait_s: float,
    recheck_s: float = RECHECK_S,
    idle: Idle | None = None,
    gone: Gone | None = None,
) -> Batch:
    """`take`, waiting up to `wait_s` for events when there are none.

    Woken by the event feed when this process commits events, and looking again every
    `recheck_s` for anything else (another process's events, an expired lease). Stops
    when `gone` says the caller left: events leased for nobody would only come back after
    the visibility timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    # A first read may step over pruned events and find nothing: the answer still says so.
    pruned: int | None = None
    while True:
        # Taken before reading: a commit between the read and the wait still wakes us.
        generation = feed.generation
        batch = await take(database, client_id, name, instances, limit=limit, now=clock())
        pruned = max(pruned or 0, batch.pruned_through or 0) or None
        remaining = deadline - loop.time()
        if batch.events or remaining <= 0:
            return Batch(batch.events, batch.lease_expires_at, pruned)
        if idle is not None:
            idle()
        await feed.wait(generation, min(remaining, recheck_s))
        if gone is not None and await gone():
            return Batch([], None, pruned)


async def ack(database: Database, client_id: str, name: str, seq: int) -> EventQueue:
    """Everything of the queue up to `seq` is done. Acknowledging what is acknowledged already
    changes nothing; beyond what was handed out is `ack_beyond_delivered` (409)."""
    async with database.read() as session:
        queue = await find_queue(session, client_id, name)
    async with database.write() as session:
        # One conditional statement: it and a concurrent `take` or `ack` cannot both apply to
        # the same version of the row (the version moves on).
        await session.execute(
            update(Q)
            .where(Q.c.id == queue.id, Q.c.acked_seq < seq, Q.c.leased_through_seq >= seq)
            .values(acked_seq=seq, version=Q.c.version + 1)
        )
        current = await session.get(EventQueue, queue.id, populate_existing=True)
        if current is None:
            raise ApiError("not_found", f"No event queue named {name!r} for this client")
        # Still behind `seq` after the conditional update: it was beyond what was handed out.
        if seq > current.acked_seq:
            raise ApiError(
                "ack_beyond_delivered",
                f"seq {seq} was not handed out by this queue: it has handed out events through "
                f"seq {current.leased_through_seq} (acknowledged through {current.acked_seq})",
            )
    return current
