"""Writing an alert: one row in `alert` and, when an alert webhook is set, one delivery row for
the webhook worker, both in the caller's transaction (the fact and its alert commit together).

Deduplication: an alert may name its `condition` (e.g. "instance:3:banned"). While an alert of
that condition is open (not cleared), raising it again does nothing; `clear` closes it (the
condition ended: the instance is ready again, a delivery to the endpoint went through, ...).
The unique `open_key` column makes this hold across processes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db import EVENTS_WRITTEN
from app.models import Alert, WebhookDelivery, WebhookEndpoint, table_of
from app.timestamps import iso
from app.vocabulary import DeliveryStatus

# The `source` of the alert webhook's endpoint row: the event fan-out leaves it out.
ALERTS_SOURCE = "alerts"


class AlertKind(StrEnum):
    INSTANCE_UNHEALTHY = "instance.unhealthy"
    INSTANCE_RECOVERED = "instance.recovered"
    DELIVERY_DEAD = "webhook.delivery_dead"
    ENDPOINT_DISABLED = "webhook.endpoint_disabled"
    QUOTA = "quota.daily"
    TEST = "test"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


AL = table_of(Alert)
_E = table_of(WebhookEndpoint)
_D = table_of(WebhookDelivery)

_ALERT_ENDPOINT = (
    select(_E.c.id).where(_E.c.source == ALERTS_SOURCE, _E.c.enabled.is_(True)).limit(1)
)


def alert_type(kind: str) -> str:
    """The `type` of the webhook body (and the delivery's event_type)."""
    return f"alert.{kind}"


def alert_body(
    alert_id: int,
    *,
    kind: str,
    severity: str,
    instance: int | None,
    summary: str,
    detail: dict[str, Any],
    created_at: datetime,
) -> dict[str, Any]:
    """What the alert webhook receives (signed like every webhook)."""
    return {
        "type": alert_type(kind),
        "timestamp": iso(created_at),
        "data": {
            "alert_id": alert_id,
            "kind": kind,
            "severity": severity,
            "instance": instance,
            "summary": summary,
            "detail": detail,
        },
    }


def raise_alert(
    conn: Connection,
    *,
    kind: AlertKind,
    severity: Severity,
    summary: str,
    detail: dict[str, Any],
    now: datetime,
    instance: int | None = None,
    condition: str | None = None,
) -> int | None:
    """Record an alert and queue it for the alert webhook; its id, or None when `condition`
    is already open (nothing written)."""
    summary = summary[:500]
    values = {
        "kind": str(kind),
        "severity": str(severity),
        "instance": instance,
        "summary": summary,
        "detail": orjson.dumps(detail).decode(),
        "condition": condition,
        "open_key": condition,
        "created_at": now,
        "resolved_at": None,
        "delivery_id": None,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    found = conn.execute(
        dialect.insert(AL).values(values).on_conflict_do_nothing().returning(AL.c.id)
    ).scalar()
    if found is None:
        return None
    alert_id = int(found)
    endpoint_id = conn.execute(_ALERT_ENDPOINT).scalar()
    if endpoint_id is None:
        return alert_id
    body = alert_body(
        alert_id,
        kind=kind,
        severity=severity,
        instance=instance,
        summary=summary,
        detail=detail,
        created_at=now,
    )
    delivery = {
        "endpoint_id": endpoint_id,
        "event_seq": None,  # not in the event log: the body is the payload (as a test event)
        "event_id": f"alert_{alert_id}",  # the webhook-id header
        "event_type": alert_type(kind),
        "conversation": None,
        "payload": orjson.dumps(body).decode(),
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    delivery_id = conn.execute(insert(_D).values(delivery).returning(_D.c.id)).scalar_one()
    conn.execute(update(AL).where(AL.c.id == alert_id).values(delivery_id=delivery_id))
    # Wakes the webhook worker once this commits, as an event would.
    conn.info[EVENTS_WRITTEN] = True
    return alert_id


def clear(conn: Connection, conditions: list[str], now: datetime) -> int:
    """The conditions ended: they may be raised again. How many were open."""
    if not conditions:
        return 0
    done = conn.execute(
        update(AL).where(AL.c.open_key.in_(conditions)).values(open_key=None, resolved_at=now)
    )
    return int(done.rowcount or 0)


async def raise_alert_async(
    session: AsyncSession,
    *,
    kind: AlertKind,
    severity: Severity,
    summary: str,
    detail: dict[str, Any],
    now: datetime,
    instance: int | None = None,
    condition: str | None = None,
) -> int | None:
    """`raise_alert` in an ORM unit of work (`Database.write()`)."""

    def work(sync: Session) -> int | None:
        conn = sync.connection()
        found = raise_alert(
            conn,
            kind=kind,
            severity=severity,
            summary=summary,
            detail=detail,
            now=now,
            instance=instance,
            condition=condition,
        )
        # The unit of work, not the pooled connection, carries the flag (engines.py).
        if conn.info.pop(EVENTS_WRITTEN, False):
            sync.info[EVENTS_WRITTEN] = True
        return found

    return await session.run_sync(work)


async def clear_async(session: AsyncSession, conditions: list[str], now: datetime) -> int:
    """`clear` in an ORM unit of work."""
    return await session.run_sync(lambda sync: clear(sync.connection(), conditions, now))
