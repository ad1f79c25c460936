"""Retention of the event log: old events go, never one a reader still needs.

The readers with a durable position, each only read here:

- every webhook endpoint's `last_seq` (the fan-out reads after it), enabled or disabled: a
  disabled endpoint keeps its cursor to deliver what it missed once enabled again. One
  disabled for longer than the events' retention stops holding the log (a forgotten endpoint
  must not keep every event for ever): enabled again, it goes on from the oldest event left.
  A client's callback endpoints and the alert webhook do not read the log by their cursor
  (their rows keep 0) and are left out;
- the per-message callback fan-out's cursor (`callback_cursor`): without its row the fan-out
  starts from 0, so nothing is deleted until it exists;
- every pull queue's acknowledged position (`event_queue.acked_seq`), however old: a queue
  that is no longer read must be deleted by its client to release the log.

And an event a pending, delivering or dead delivery names (`event_seq`) stays, whatever its
age: deliveries render their body from the log. (A delivered one does not hold its event: a
replay of it after its event went fails, and the delivery ends dead.)

Seq order is commit order (app/events.py), so events are read by seq from where the last
batch stopped, and the run ends at the first event that is not old yet.
"""

from __future__ import annotations

from datetime import datetime
from itertools import takewhile

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.engine import Connection

from app.alerts.record import ALERTS_SOURCE
from app.models import CallbackCursor, Event, EventQueue, WebhookDelivery, WebhookEndpoint, table_of
from app.retention.rules import Batch
from app.retention.watermark import advance
from app.vocabulary import DeliveryStatus

EV = table_of(Event)
E = table_of(WebhookEndpoint)
D = table_of(WebhookDelivery)
C = table_of(CallbackCursor)
Q = table_of(EventQueue)

# The `source` of a client's callback endpoint (inbound/webhooks/callback_secrets.py; the core
# does not import that side: a test checks the two agree).
CALLBACK_SOURCE = "callback"
# Deliveries that will still render their event.
HOLDING = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING, DeliveryStatus.DEAD)
CALLBACK_CURSOR_ID = 1


def reader_floor(conn: Connection, disabled_since: datetime) -> int:
    """The lowest position of the log's readers: no event above it is deleted.

    Endpoints disabled before `disabled_since` no longer hold it."""
    positions: list[int] = []
    endpoints = conn.execute(
        select(func.min(E.c.last_seq)).where(
            E.c.source.not_in((CALLBACK_SOURCE, ALERTS_SOURCE)),
            or_(
                E.c.enabled.is_(True),
                E.c.disabled_at >= disabled_since,
                # (Disabled without a date: since its last change.)
                and_(E.c.disabled_at.is_(None), E.c.updated_at >= disabled_since),
            ),
        )
    ).scalar()
    if endpoints is not None:
        positions.append(int(endpoints))
    cursor = conn.execute(select(C.c.last_seq).where(C.c.id == CALLBACK_CURSOR_ID)).scalar()
    positions.append(0 if cursor is None else int(cursor))
    queues = conn.execute(select(func.min(Q.c.acked_seq))).scalar()
    if queues is not None:
        positions.append(int(queues))
    return min(positions)


def old_events(
    conn: Connection,
    cutoff: datetime,
    disabled_since: datetime,
    after: int,
    limit: int,
    now: datetime,
) -> tuple[Batch, int]:
    """Delete the next batch of events created before `cutoff` with seq above `after`; the
    batch, and the seq to go on after. The pruned watermark moves to the highest seq deleted
    in the same transaction (watermark.py).

    The readers' positions are read in the same transaction as the delete, so a cursor read
    here cannot have moved back (cursors only move forward; a new reader starts at the top,
    or where its client asks, which may be past what is left)."""
    floor = reader_floor(conn, disabled_since)
    query = select(EV.c.seq, EV.c.created_at).where(EV.c.seq > after, EV.c.seq <= floor)
    rows = conn.execute(query.order_by(EV.c.seq).limit(limit)).all()
    old = [int(r.seq) for r in takewhile(lambda r: r.created_at < cutoff, rows)]
    if not old:
        return Batch(), after
    held = set(
        conn.execute(
            select(D.c.event_seq).where(D.c.status.in_(HOLDING), D.c.event_seq.in_(old))
        ).scalars()
    )
    gone = [seq for seq in old if seq not in held]
    deleted = 0
    if gone:
        deleted = conn.execute(delete(EV).where(EV.c.seq.in_(gone))).rowcount
        advance(conn, gone[-1], now)
    # A full batch, all of it old: there may be more.
    more = len(rows) >= limit and len(old) == len(rows)
    return Batch({"event": deleted}, more), old[-1]
