"""Alerts about webhooks: a delivery that went dead, an endpoint that was disabled.

Both are raised in the transaction that records the fact (the delivery round, or the admin's
change). Deduplication: one `webhook.delivery_dead` per endpoint until a delivery to it goes
through again; one `webhook.endpoint_disabled` until it is enabled again.

The alert webhook's own deliveries never raise an alert (a dead alert would be delivered to the
same failing receiver, and so on): they are logged. Its disabling is recorded (the console
shows it) but has nowhere to be delivered.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.record import (
    ALERTS_SOURCE,
    AlertKind,
    Severity,
    clear,
    clear_async,
    raise_alert,
    raise_alert_async,
)
from app.models import WebhookEndpoint

if TYPE_CHECKING:  # rounds.py calls this module
    from inbound.webhooks.rounds import Claim

log = logging.getLogger(__name__)


def dead_condition(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}:dead"


def disabled_condition(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}:disabled"


def round_outcomes(
    conn: Connection,
    now: datetime,
    *,
    dead: list[tuple[Claim, str]],
    delivered: list[Claim],
    disabled: list[tuple[Claim, str]],
) -> None:
    """What a delivery round recorded: (claim, error) gone dead, claims delivered, and
    (claim, reason) whose endpoint answered 410 and was disabled."""
    working = {c.endpoint_id for c in delivered if c.row.source != ALERTS_SOURCE}
    clear(conn, sorted(dead_condition(e) for e in working), now)
    for claim, error in dead:
        row = claim.row
        if row.source == ALERTS_SOURCE:
            log.warning("alert delivery %s to %s is dead: %s", claim.id, row.url, error)
            continue
        raise_alert(
            conn,
            kind=AlertKind.DELIVERY_DEAD,
            severity=Severity.WARNING,
            summary=f"A webhook delivery to {row.url} failed for good: {error}"[:500],
            detail={
                "endpoint_id": claim.endpoint_id,
                "url": row.url,
                "delivery_id": claim.id,
                "event_id": row.event_id,
                "event_type": row.event_type,
                "attempts": claim.attempts,
                "error": error,
            },
            now=now,
            condition=dead_condition(claim.endpoint_id),
        )
    for claim, reason in disabled:
        summary, detail = _disabled(claim.endpoint_id, claim.row.url, reason)
        raise_alert(
            conn,
            kind=AlertKind.ENDPOINT_DISABLED,
            severity=Severity.WARNING,
            summary=summary,
            detail=detail,
            now=now,
            condition=disabled_condition(claim.endpoint_id),
        )


async def endpoint_disabled(
    session: AsyncSession, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    """An admin disabled the endpoint (in the caller's transaction)."""
    summary, detail = _disabled(endpoint.id, endpoint.url, reason)
    # The alert webhook itself, disabled: the alert must see that (no delivery to it).
    await session.flush()
    await raise_alert_async(
        session,
        kind=AlertKind.ENDPOINT_DISABLED,
        severity=Severity.WARNING,
        summary=summary,
        detail=detail,
        now=now,
        condition=disabled_condition(endpoint.id),
    )


async def endpoint_enabled(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> None:
    await clear_async(session, [disabled_condition(endpoint.id)], now)


def _disabled(endpoint_id: str, url: str, reason: str) -> tuple[str, dict[str, object]]:
    summary = f"The webhook endpoint {url} was disabled: {reason}"
    return summary, {"endpoint_id": endpoint_id, "url": url, "reason": reason}
