"""The event log: every fact is appended in the transaction that changed the state."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import EVENTS_WRITTEN
from app.models import Event, table_of
from app.timestamps import iso
from app.vocabulary import EventType, values

EVENT_TYPES = values(EventType)

# The only type whose body carries WhatsMate's top-level `number` and `message`. A receiver
# written the WhatsMate way answers every POST by sending to `number`: were `number` on
# message.sent too, each reply would trigger the next one (a loop). Every other type keeps the
# other party's number under `data` only.
WHATSMATE_TOP_TYPE = EventType.MESSAGE_RECEIVED

# Any constant works; it only has to be the same in every process of the deployment.
_SEQ_LOCK_KEY = 0x7467770001
# Serialises event writers until commit so that seq order is commit order: a reader that has
# seen seq N can never later find a smaller seq appear (gap-free backfill by `after=`).
_SEQ_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def conversation_key(
    instance: int | None, number: str | None = None, group: str | None = None
) -> str | None:
    """The chat an event belongs to; webhooks deliver the events of one chat in seq order."""
    if instance is None:
        return None
    if group is not None:
        return f"{instance}:g:{group}"[:300]
    if number is not None:
        return f"{instance}:{number}"
    return str(instance)  # the instance's own events (instance.status, account.login_alert)


def event_row(
    type_: str,
    *,
    now: datetime,
    instance: int | None,
    data: dict[str, Any],
    number: str | None = None,
    message: str | None = None,
    gateway_number: str | None = None,
    conversation: str | None = None,
) -> dict[str, Any]:
    """The columns of a new event (its `seq` comes from the database).

    `conversation` defaults to the instance and number (see `conversation_key`).
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_}")
    top = {"number": number, "message": message, "gateway_number": gateway_number}
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": type_,
        "instance": instance,
        "number": number,
        "conversation": conversation or conversation_key(instance, number),
        "created_at": now,
        "payload": orjson.dumps({"top": top, "data": data}).decode(),
    }


async def append_event(
    session: AsyncSession,
    type_: str,
    *,
    now: datetime,
    instance: int | None,
    data: dict[str, Any],
    number: str | None = None,
    message: str | None = None,
    gateway_number: str | None = None,
    conversation: str | None = None,
) -> Event:
    """Add one event to the session's transaction; `seq` is assigned on flush."""
    row = event_row(
        type_,
        now=now,
        instance=instance,
        data=data,
        number=number,
        message=message,
        gateway_number=gateway_number,
        conversation=conversation,
    )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_SEQ_LOCK, {"k": _SEQ_LOCK_KEY})
    event = Event(**row)
    session.add(event)
    # `transaction()` wakes the webhook worker once this commits.
    session.info[EVENTS_WRITTEN] = True
    return event


def append_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """`append_event` for Core code running on a sync connection (the hot paths)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_SEQ_LOCK, {"k": _SEQ_LOCK_KEY})
    conn.execute(insert(table_of(Event)), rows)
    # `SqlRunner.run` wakes the webhook worker once this commits.
    conn.info[EVENTS_WRITTEN] = True


# Turns the stored media description ({"id", "kind", ...}) into a signed download link.
MediaLinker = Callable[[dict[str, Any]], str]


def render_event(row: Event, media_link: MediaLinker | None = None) -> dict[str, Any]:
    """The public shape of an event (webhook body and GET /api/v1/events)."""
    return render_stored(
        type_=row.type,
        id_=row.id,
        seq=row.seq,
        created_at=row.created_at,
        instance=row.instance,
        payload=row.payload,
        media_link=media_link,
    )


def render_stored(
    *,
    type_: str,
    id_: str,
    seq: int | None,
    created_at: datetime,
    instance: int | None,
    payload: str,
    media_link: MediaLinker | None = None,
) -> dict[str, Any]:
    """`render_event` from the columns (the webhook worker reads them with Core).

    Media links are made at rendering time, not stored: each delivery attempt and each
    backfill read gets a link that is valid from then on, however late it comes.
    """
    stored = orjson.loads(payload)
    top = stored.get("top", {})
    data = stored.get("data", {})
    media = data.get("media") if isinstance(data, dict) else None
    if media_link is not None and isinstance(media, dict) and media.get("id"):
        data["media"] = {**media, "url": media_link(media)}
    body: dict[str, Any] = {
        "type": type_,
        "id": id_,
        "seq": seq,
        "timestamp": iso(created_at),
        "instance_id": instance,
        # Our own account's number: a receiver that sent to it would only reach the gateway
        # itself (never registered, so refused), so it is safe on every type.
        "gateway_number": top.get("gateway_number"),
    }
    # Decided here, not when the event was written, so that events stored before this rule
    # are rendered the same way.
    if type_ == WHATSMATE_TOP_TYPE:
        body["number"] = top.get("number")
        body["message"] = top.get("message")
    body["data"] = data
    return body


async def list_events(
    session: AsyncSession, *, after: int, limit: int, instances: Collection[int] | None = None
) -> list[Event]:
    """Events after `after` in seq order; with `instances`, only theirs and the gateway's own
    (no instance): what a key limited to those instances may see."""
    query = select(Event).where(col(Event.seq) > after)
    if instances is not None:
        query = query.where(
            or_(col(Event.instance).is_(None), col(Event.instance).in_(sorted(instances)))
        )
    rows = await session.scalars(query.order_by(col(Event.seq)).limit(limit))
    return list(rows)
