"""Fan-out: each enabled endpoint reads the event log after its cursor (`last_seq`) and gets a
delivery row per event it subscribes to, in batches, in the unit of work that moves its cursor.

The cursor cannot skip an event: on PostgreSQL event writers hold an advisory lock until they
commit, so seq order is commit order (app/events.py); on SQLite writers take turns. An endpoint
that is disabled keeps its cursor, so re-enabling it delivers what it missed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from app.alerts.record import ALERTS_SOURCE
from app.models import Event, WebhookDelivery, WebhookEndpoint, table_of
from app.vocabulary import DeliveryStatus
from inbound.webhooks.formats import subscribed

E = table_of(WebhookEndpoint)
D = table_of(WebhookDelivery)
EV = table_of(Event)

FANOUT_BATCH = 500

_SEL_ENDPOINTS = select(E.c.id, E.c.events, E.c.format, E.c.last_seq).where(
    E.c.enabled.is_(True),
    # A client's callback endpoint (callbacks.py) gets its message's events only, fanned out
    # there; the alert webhook gets alerts only (app/alerts/).
    E.c.source.not_in(("callback", ALERTS_SOURCE)),
)
_SEL_EVENTS = (
    select(EV.c.seq, EV.c.id, EV.c.type, EV.c.conversation)
    .where(EV.c.seq > bindparam("after"))
    .order_by(EV.c.seq)
    .limit(bindparam("limit"))
)
_INSERT_DELIVERIES = insert(D)
_MOVE_CURSOR = update(E).where(E.c.id == bindparam("b_id")).values(last_seq=bindparam("b_seq"))


def fan_out(conn: Connection, now: datetime, batch: int = FANOUT_BATCH) -> tuple[int, bool]:
    """Create the delivery rows of the next events; (rows created, more events waiting)."""
    query = _SEL_ENDPOINTS
    if conn.dialect.name == "postgresql":
        # Several processes may fan out: each endpoint's cursor is moved by one at a time.
        query = query.with_for_update(skip_locked=True)
    endpoints = conn.execute(query).all()
    rows: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    more = False
    # Each endpoint reads from its own cursor (endpoints at the same position share the read):
    # one far behind (re-enabled after a long pause) must not hold up the others.
    read: dict[int, list[Any]] = {}
    for endpoint in endpoints:
        after = int(endpoint.last_seq)
        if after not in read:
            read[after] = list(conn.execute(_SEL_EVENTS, {"after": after, "limit": batch}))
        mine = read[after]
        if not mine:
            continue
        more = more or len(mine) >= batch
        types = subscribed(
            endpoint.format, orjson.loads(endpoint.events) if endpoint.events else None
        )
        rows.extend(
            delivery_row(endpoint.id, ev.seq, ev.id, ev.type, ev.conversation, now)
            for ev in mine
            if types is None or ev.type in types
        )
        moves.append({"b_id": endpoint.id, "b_seq": mine[-1].seq})
    if rows:
        conn.execute(_INSERT_DELIVERIES, rows)
    if moves:
        conn.execute(_MOVE_CURSOR, moves)
    return len(rows), more


def delivery_row(
    endpoint_id: str,
    seq: int | None,
    event_id: str,
    event_type: str,
    conversation: str | None,
    now: datetime,
    payload: str | None = None,
) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint_id,
        "event_seq": seq,
        "event_id": event_id,
        "event_type": event_type,
        "conversation": conversation,
        "payload": payload,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "last_status_code": None,
        "created_at": now,
        "delivered_at": None,
    }
