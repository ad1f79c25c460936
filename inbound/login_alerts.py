"""Logins to an instance's account from other devices: one `account.login_alert` event each.

Telegram announces a new login twice: with updateNewAuthorization (the new session's hash,
device and location) and with a "New login" message from its service account 777000 (the same
facts in words). Either may come first, and either may be missing: the update carries no pts, so
it is lost when the gateway is offline at that moment (catch-up does not replay it), while the
notice is an ordinary message that catch-up delivers later; and a notice in a language other than
English is not recognised (app/telegram/notices.py).

Why not "prefer the update, fall back to the notice": that means holding a notice back until it
is clear that no update follows, a timer that would have to survive restarts and would delay
every alert, while every event here is written in the transaction that handles its update (the
outbox pattern). So whichever of the two arrives first makes the event at once; the other one,
when it comes within PAIR_WINDOW of it (by Telegram's dates), is recorded against it and makes
none. Pairing is one to one (one update with one notice), so two logins a minute apart still make
two events. A replay after a restart finds its own record (the hash, or the notice's message id)
and changes nothing. When the notice came first, the event has no `hash`: GET
/admin/instances/{n}/sessions shows it.

An updateNewAuthorization without `unconfirmed` (only a hash) tells that a session announced
before was confirmed: nothing new when that hash is known. Unknown, it counts as an alert all the
same (its first update was missed), paired with a notice like any other.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.events import append_event
from app.models import Event, LoginAlertRecord
from app.telegram.port import LoginAlert
from app.timestamps import iso

log = logging.getLogger(__name__)

EVENT_TYPE = "account.login_alert"
# The update and the notice of one login are sent together; a generous margin for clocks and
# for a notice that a reconnect delays.
PAIR_WINDOW = timedelta(minutes=10)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def alert_data(instance: int, alert: LoginAlert) -> dict[str, Any]:
    """The `data` of an account.login_alert event."""
    return {
        "instance": instance,
        # A Telegram long: as a string, so that JavaScript receivers keep every digit.
        "hash": str(alert.hash) if alert.hash is not None else None,
        "device": alert.device,
        "location": alert.location,
        "date": iso(alert.date),
        "unconfirmed": alert.unconfirmed,
        "source": alert.source,
        "text": alert.text,
    }


async def _own_record(
    session: AsyncSession, instance: int, alert: LoginAlert
) -> LoginAlertRecord | None:
    """The record of this very update or notice (a replay), if any."""
    if alert.source == "update":
        if alert.hash is None:
            return None
        where = col(LoginAlertRecord.auth_hash) == alert.hash
    else:
        if alert.message_id is None:
            return None
        where = col(LoginAlertRecord.notice_message_id) == alert.message_id
    found: LoginAlertRecord | None = await session.scalar(
        select(LoginAlertRecord).where(and_(col(LoginAlertRecord.instance) == instance, where))
    )
    return found


async def _partner(
    session: AsyncSession, instance: int, alert: LoginAlert, at: datetime
) -> LoginAlertRecord | None:
    """The other half of this login: an alert of the other source, not yet paired, close by."""
    if alert.source == "update":
        unpaired = and_(
            col(LoginAlertRecord.auth_hash).is_(None),
            col(LoginAlertRecord.notice_message_id).is_not(None),
        )
    else:
        unpaired = and_(
            col(LoginAlertRecord.notice_message_id).is_(None),
            col(LoginAlertRecord.auth_hash).is_not(None),
        )
    found: LoginAlertRecord | None = await session.scalar(
        select(LoginAlertRecord)
        .where(
            and_(
                col(LoginAlertRecord.instance) == instance,
                unpaired,
                col(LoginAlertRecord.login_at) >= at - PAIR_WINDOW,
                col(LoginAlertRecord.login_at) <= at + PAIR_WINDOW,
            )
        )
        .order_by(col(LoginAlertRecord.login_at), col(LoginAlertRecord.id))
        .limit(1)
    )
    return found


async def record_login_alert(
    session: AsyncSession,
    instance: int,
    alert: LoginAlert,
    *,
    now: datetime,
    gateway_number: str | None,
) -> Event | None:
    """Append the login's event, unless this alert repeats one already made (the other source
    of the same login, or a replay); the event, or None. Runs in the caller's transaction."""
    if await _own_record(session, instance, alert) is not None:
        return None
    at = _utc(alert.date)
    partner = await _partner(session, instance, alert, at)
    if partner is not None:
        if alert.source == "update":
            partner.auth_hash = alert.hash
        else:
            partner.notice_message_id = alert.message_id
        return None
    event = await append_event(
        session,
        EVENT_TYPE,
        now=now,
        instance=instance,
        gateway_number=gateway_number,
        data=alert_data(instance, alert),
    )
    session.add(
        LoginAlertRecord(
            instance=instance,
            auth_hash=alert.hash if alert.source == "update" else None,
            notice_message_id=alert.message_id if alert.source == "service_notice" else None,
            login_at=at,
            event_id=event.id,
        )
    )
    log.warning(
        "instance %s: a new login to the account from %s (%s), %s",
        instance,
        alert.device or "an unknown device",
        alert.location or "unknown location",
        alert.source,
    )
    return event


async def recent_login_alerts(
    session: AsyncSession, instance: int, limit: int = 5
) -> list[dict[str, Any]]:
    """The instance's latest login alerts, newest first: each event's `data` with its id."""
    rows = await session.execute(
        select(col(Event.id), col(Event.created_at), col(Event.payload))
        .join(LoginAlertRecord, col(LoginAlertRecord.event_id) == col(Event.id))
        .where(col(LoginAlertRecord.instance) == instance)
        .order_by(col(LoginAlertRecord.id).desc())
        .limit(limit)
    )
    alerts = []
    for event_id, created_at, payload in rows:
        data = orjson.loads(payload).get("data", {})
        alerts.append({"id": event_id, "received_at": iso(created_at), **data})
    return alerts
