"""The hot path of inbound: a registered person's ordinary message, in one Core unit of work.

Most updates are exactly this (not a greeting, a stop word or a contact card, from someone
registered): it is stored, the recipient's names are refreshed and `message.received` is
appended, with prebuilt statements in one hop to the SQLite writer thread instead of a dozen
ORM round trips; a burst of them (a backend that hands over several updates at once) shares
one unit of work. Anything else returns "slow" and goes through the registration dialogue
(processor.py), which behaves the same for this case.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from app.events import append_events, event_row
from app.models import InboundMessage, Instance, MediaBlob, Message, Recipient, table_of
from app.telegram.port import IncomingMessage
from app.timestamps import iso

I = table_of(InboundMessage)  # noqa: E741
R = table_of(Recipient)
B = table_of(MediaBlob)
M = table_of(Message)
N = table_of(Instance)

# Lookups for a whole batch at once (expanding IN lists; compiled once, like the others).
_SEL_SEEN_MANY = select(I.c.telegram_message_id).where(
    I.c.instance == bindparam("instance"), I.c.telegram_message_id.in_(bindparam("tgs"))
)
_SEL_RECIPIENTS = select(
    R.c.id,
    R.c.user_id,
    R.c.status,
    R.c.number,
    R.c.access_hash,
    R.c.first_name,
    R.c.last_name,
    R.c.username,
).where(R.c.instance == bindparam("instance"), R.c.user_id.in_(bindparam("user_ids")))
_SEL_PHONE = select(N.c.phone).where(N.c.number == bindparam("instance"))
_SEL_OURS = (
    select(M.c.id)
    .where(M.c.instance == bindparam("instance"), M.c.telegram_message_id == bindparam("tg"))
    .limit(1)
)
_REFRESH = (
    update(R)
    .where(R.c.id == bindparam("b_id"))
    .values(
        access_hash=bindparam("b_hash"),
        first_name=bindparam("b_first"),
        last_name=bindparam("b_last"),
        username=bindparam("b_user"),
    )
)
_INSERT_INBOUND = insert(I)
_INSERT_BLOB = insert(B)

Result = Literal["duplicate", "forwarded", "slow"]


def forward(conn: Connection, instance: int, msg: IncomingMessage, now: datetime) -> Result:
    """Store and announce `msg` if it is an ordinary message of a registered person."""
    return forward_many(conn, instance, [msg], now)[0]


def forward_many(
    conn: Connection, instance: int, messages: Sequence[IncomingMessage], now: datetime
) -> list[Result]:
    """`forward` for several messages in order, in one unit of work: what a burst costs is a
    few statements for all of them (a transaction and lookups) plus a row or two each.

    The outcomes of the leading messages, up to and including the first "slow" one: that one
    and those after it are left untouched, for the dialogue to take them one by one (events
    stay in the order the messages came).
    """
    seen = set(
        conn.execute(
            _SEL_SEEN_MANY, {"instance": instance, "tgs": [m.message_id for m in messages]}
        ).scalars()
    )
    user_ids = list({m.sender.user_id for m in messages})
    recipients = {
        row.user_id: row
        for row in conn.execute(_SEL_RECIPIENTS, {"instance": instance, "user_ids": user_ids})
    }
    # The names each recipient has now, as the messages before the current one left them.
    names: dict[int, tuple[Any, ...]] = {}
    refreshes: dict[int, dict[str, Any]] = {}
    blobs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    outcomes: list[Result] = []
    gateway_number: str | None = None
    for msg in messages:
        if msg.message_id in seen:
            outcomes.append("duplicate")  # a replay after catch-up: handled already
            continue
        sender = msg.sender
        recipient = recipients.get(sender.user_id)
        if recipient is None or recipient.status != "registered":
            outcomes.append("slow")
            break
        seen.add(msg.message_id)
        fresh = (sender.access_hash, sender.first_name, sender.last_name, sender.username)
        stored = names.get(recipient.id) or (
            recipient.access_hash,
            recipient.first_name,
            recipient.last_name,
            recipient.username,
        )
        if fresh != stored:
            names[recipient.id] = fresh
            refreshes[recipient.id] = {
                "b_id": recipient.id,
                "b_hash": sender.access_hash,
                "b_first": sender.first_name,
                "b_last": sender.last_name,
                "b_user": sender.username,
            }
        media_id = None
        if msg.media is not None:
            media_id = str(uuid.uuid4())
            blobs.append(
                {
                    "id": media_id,
                    "sha256": hashlib.sha256(msg.media.data).hexdigest(),
                    "size": len(msg.media.data),
                    "mime_type": msg.media.mime_type or "application/octet-stream",
                    "data": msg.media.data,
                    "created_at": now,
                }
            )
        inbound_id = str(uuid.uuid4())
        number = recipient.number
        rows.append(
            {
                "id": inbound_id,
                "instance": instance,
                "telegram_message_id": msg.message_id,
                "sender_user_id": sender.user_id,
                "number": number,
                "text": msg.text or None,
                "media_kind": msg.media.kind if msg.media else None,
                "media_id": media_id,
                "filename": msg.media.filename if msg.media else None,
                "reply_to_telegram_id": msg.reply_to_message_id,
                "handling": "forwarded",
                "received_at": now,
            }
        )
        ours = None
        if msg.reply_to_message_id is not None:
            params = {"instance": instance, "tg": msg.reply_to_message_id}
            ours = conn.execute(_SEL_OURS, params).scalar()
        if not events:
            gateway_number = conn.execute(_SEL_PHONE, {"instance": instance}).scalar()
        data = received_data(
            inbound_id=inbound_id,
            msg=msg,
            number=number,
            media_id=media_id,
            received_at=now,
            reply_to_ours=ours,
        )
        events.append(
            event_row(
                "message.received",
                now=now,
                instance=instance,
                number=number,
                message=msg.text or "",
                gateway_number=gateway_number,
                data=data,
            )
        )
        outcomes.append("forwarded")
    if refreshes:
        conn.execute(_REFRESH, list(refreshes.values()))  # each recipient's latest names
    if blobs:
        conn.execute(_INSERT_BLOB, blobs)  # before the rows that point at them
    if rows:
        conn.execute(_INSERT_INBOUND, rows)
    append_events(conn, events)  # in the messages' order: seq order is message order
    return outcomes


def received_data(
    *,
    inbound_id: str,
    msg: IncomingMessage,
    number: str | None,
    media_id: str | None,
    received_at: datetime,
    reply_to_ours: str | None,
) -> dict[str, Any]:
    """The `data` of message.received; media as a description, never its bytes (the
    download link is added when the event is rendered: app/media_links.py)."""
    reply_to = None
    if msg.reply_to_message_id is not None:
        reply_to = {"telegram_message_id": msg.reply_to_message_id, "message_id": reply_to_ours}
    media = None
    if msg.media is not None:
        media = {
            "id": media_id,
            "kind": msg.media.kind,
            "filename": msg.media.filename,
            "mime_type": msg.media.mime_type,
            "size": len(msg.media.data),
            "sha256": hashlib.sha256(msg.media.data).hexdigest(),
        }
    s = msg.sender
    return {
        "id": inbound_id,
        "telegram_message_id": msg.message_id,
        "sender": {
            "user_id": s.user_id,
            "first_name": s.first_name,
            "last_name": s.last_name,
            "username": s.username,
            "number": number,
        },
        "text": msg.text or None,
        "reply_to": reply_to,
        "media": media,
        "received_at": iso(received_at),
    }
