"""Recipient changes shared by the API, the CLI and the registration dialogue."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.events import append_event
from app.models import Instance, Recipient
from app.timestamps import iso_or_none
from app.vocabulary import EventType, RecipientStatus


def recipient_data(recipient: Recipient) -> dict[str, Any]:
    """The recipient as events and the API show it."""
    return {
        "instance": recipient.instance,
        "number": recipient.number,
        "user_id": recipient.user_id,
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "username": recipient.username,
        "language": recipient.language,
        "status": recipient.status,
        "registered_at": iso_or_none(recipient.registered_at),
        "unregistered_at": iso_or_none(recipient.unregistered_at),
    }


async def find_recipients(
    session: AsyncSession,
    status: str,
    *,
    instance: int = 0,
    limit: int | None = None,
    instances: Collection[int] | None = None,
) -> list[Recipient]:
    """Recipients with this status ("all": any), in the order they first wrote.

    `instance` 0: every instance's; `limit` None: all of them; `instances`: only theirs
    (an API key limited to some instances).
    """
    query = select(Recipient)
    if status != "all":
        query = query.where(col(Recipient.status) == status)
    if instance:
        query = query.where(col(Recipient.instance) == instance)
    if instances is not None:
        query = query.where(col(Recipient.instance).in_(sorted(instances)))
    query = query.order_by(col(Recipient.id))
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def unregister(
    session: AsyncSession, recipient: Recipient, now: datetime, reason: str
) -> None:
    """End a registration (or a pending one); an event says so if it was registered."""
    was_registered = recipient.status == RecipientStatus.REGISTERED
    recipient.status = RecipientStatus.UNREGISTERED
    recipient.unregistered_at = now
    if was_registered:
        inst = await session.get(Instance, recipient.instance)
        await append_event(
            session,
            EventType.RECIPIENT_UNREGISTERED,
            now=now,
            instance=recipient.instance,
            number=recipient.number,
            gateway_number=inst.phone if inst else None,
            data={**recipient_data(recipient), "reason": reason},
        )


async def unregister_number(
    session: AsyncSession,
    number: str,
    now: datetime,
    reason: str,
    instance: int | None = None,
    *,
    instances: Collection[int] | None = None,
) -> int:
    """Unregister every registered or pending recipient with this number (of `instance`, of
    `instances` if given); how many there were."""
    query = select(Recipient).where(
        and_(
            col(Recipient.number) == number,
            col(Recipient.status).in_((RecipientStatus.REGISTERED, RecipientStatus.PENDING)),
        )
    )
    if instance:
        query = query.where(col(Recipient.instance) == instance)
    if instances is not None:
        query = query.where(col(Recipient.instance).in_(sorted(instances)))
    rows = list(await session.scalars(query))
    for row in rows:
        await unregister(session, row, now, reason)
    return len(rows)
