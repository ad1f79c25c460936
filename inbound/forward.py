"""The hot path of inbound: a registered person's ordinary message, in one Core unit of work.

Most updates are exactly this (not a greeting, a stop word or a contact card, from someone
registered): it is stored, the recipient's names are refreshed and `message.received` is
appended, with prebuilt statements in one hop to the SQLite writer thread instead of a dozen
ORM round trips. Anything else returns "slow" and goes through the registration dialogue
(processor.py), which behaves the same for this case.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from app.events import append_events, event_row
from app.models import InboundMessage, Instance, MediaBlob, Message, Recipient, table_of
from app.telegram.port import IncomingMessage

I = table_of(InboundMessage)  # noqa: E741
R = table_of(Recipient)
B = table_of(MediaBlob)
M = table_of(Message)
N = table_of(Instance)

_SEL_SEEN = select(I.c.id).where(
    I.c.instance == bindparam("instance"), I.c.telegram_message_id == bindparam("tg")
)
_SEL_RECIPIENT = select(
    R.c.id, R.c.status, R.c.number, R.c.access_hash, R.c.first_name, R.c.last_name, R.c.username
).where(R.c.instance == bindparam("instance"), R.c.user_id == bindparam("user_id"))
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
    if conn.execute(_SEL_SEEN, {"instance": instance, "tg": msg.message_id}).first() is not None:
        return "duplicate"  # a replay after catch-up: handled already
    sender = msg.sender
    recipient = conn.execute(
        _SEL_RECIPIENT, {"instance": instance, "user_id": sender.user_id}
    ).first()
    if recipient is None or recipient.status != "registered":
        return "slow"
    fresh = (sender.access_hash, sender.first_name, sender.last_name, sender.username)
    stored = (recipient.access_hash, recipient.first_name, recipient.last_name, recipient.username)
    if fresh != stored:
        conn.execute(
            _REFRESH,
            {
                "b_id": recipient.id,
                "b_hash": sender.access_hash,
                "b_first": sender.first_name,
                "b_last": sender.last_name,
                "b_user": sender.username,
            },
        )
    media_id = None
    if msg.media is not None:
        media_id = str(uuid.uuid4())
        conn.execute(
            _INSERT_BLOB,
            {
                "id": media_id,
                "sha256": hashlib.sha256(msg.media.data).hexdigest(),
                "size": len(msg.media.data),
                "mime_type": msg.media.mime_type or "application/octet-stream",
                "data": msg.media.data,
                "created_at": now,
            },
        )
    inbound_id = str(uuid.uuid4())
    number = recipient.number
    conn.execute(
        _INSERT_INBOUND,
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
        },
    )
    ours = None
    if msg.reply_to_message_id is not None:
        params = {"instance": instance, "tg": msg.reply_to_message_id}
        ours = conn.execute(_SEL_OURS, params).scalar()
    gateway_number = conn.execute(_SEL_PHONE, {"instance": instance}).scalar()
    data = received_data(
        inbound_id=inbound_id,
        msg=msg,
        number=number,
        media_id=media_id,
        received_at=now,
        reply_to_ours=ours,
    )
    event = event_row(
        "message.received",
        now=now,
        instance=instance,
        number=number,
        message=msg.text or "",
        gateway_number=gateway_number,
        data=data,
    )
    append_events(conn, [event])
    return "forwarded"


def received_data(
    *,
    inbound_id: str,
    msg: IncomingMessage,
    number: str | None,
    media_id: str | None,
    received_at: datetime,
    reply_to_ours: str | None,
) -> dict[str, Any]:
    """The `data` of message.received (SPEC §7); media as a description, never its bytes (the
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
        "received_at": received_at.isoformat(),
    }
