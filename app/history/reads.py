"""Reading conversations: a private chat merged from the three tables that hold its messages,
and the list of people with their latest message and unread count.

- `message`: what the gateway sent (API clients' sends, origin "api", and its own
  registration replies, origin "system"); edits, deletions and reactions are rows of that
  queue too and are left out (`target_id`);
- `inbound_message`: what the person sent (private only: `group_id` null);
- `history_message`: what a backfill learned of that the gateway had not stored. A row that
  has since been stored by the gateway as well (the same Telegram message id) is left out,
  so a message never shows twice.

A message's `at` (the order of a chat and of the list): when it was sent (a queued one: when
accepted) for the gateway's sends, when the gateway received it for the person's, Telegram's
date for a backfilled one.

Unread: the person's messages (not deleted) with a Telegram message id above the account's
latest message in the chat (its highest Telegram id among the sends that went out and the
backfilled ones of its own). Ids in a private chat grow with time on both sides, so this
counts the person's messages since the account last wrote to them: what Telegram shows as
unread when `mark_read_on_reply` is on (every send marks the person's messages read first).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import HistoryMessage, InboundMessage, MediaBlob, Message, Recipient, table_of

M = table_of(Message)
I = table_of(InboundMessage)  # noqa: E741 (the inbound table, as elsewhere)
H = table_of(HistoryMessage)
R = table_of(Recipient)
B = table_of(MediaBlob)


@dataclass(frozen=True)
class Person:
    """Whose conversation: a recipient row."""

    id: int
    instance: int
    user_id: int
    number: str
    status: str
    first_name: str | None
    last_name: str | None
    username: str | None
    access_hash: int | None


def _person(row: Any) -> Person:
    return Person(
        row.id,
        row.instance,
        row.user_id,
        row.number,
        row.status,
        row.first_name,
        row.last_name,
        row.username,
        row.access_hash,
    )


async def find_person(session: AsyncSession, instance: int, number: str) -> Person | None:
    """The person with this number on this instance: the registered one if any, else the
    latest to write (a number can have changed hands)."""
    row = (
        await session.execute(
            select(R)
            .where(R.c.instance == instance, R.c.number == number)
            .order_by((R.c.status == "registered").desc(), R.c.id.desc())
            .limit(1)
        )
    ).first()
    return _person(row) if row is not None else None


def sent_to(instance: Any, number: Any, user_id: Any) -> Any:
    """The gateway's messages to this person (as the read marks find them)."""
    return and_(
        M.c.instance == instance,
        M.c.target_id.is_(None),
        M.c.group_name.is_(None),
        or_(M.c.to_number == number, M.c.recipient_user_id == user_id),
    )


def from_person(instance: Any, user_id: Any) -> Any:
    """The person's private messages."""
    return and_(I.c.instance == instance, I.c.sender_user_id == user_id, I.c.group_id.is_(None))


def _backfilled(instance: Any, user_id: Any) -> Any:
    """Backfilled messages of the chat the gateway has not stored since."""
    stored_in = select(I.c.id).where(
        I.c.instance == H.c.instance,
        I.c.channel_id == 0,
        I.c.telegram_message_id == H.c.telegram_message_id,
    )
    stored_out = select(M.c.id).where(
        M.c.instance == H.c.instance, M.c.telegram_message_id == H.c.telegram_message_id
    )
    return and_(
        H.c.instance == instance,
        H.c.user_id == user_id,
        ~stored_in.exists(),
        ~stored_out.exists(),
    )


def _null(type_: Any) -> Any:
    return sa.cast(sa.null(), type_)


_TEXT = sa.Text()
_STR = sa.String()
_BIG = sa.BigInteger()
_WHEN = M.c.created_at.type


def chat_parts(instance: Any, number: Any, user_id: Any) -> tuple[Any, Any, Any]:
    """The three selects of a chat's messages (the gateway's, the person's, backfilled ones),
    with the same columns; `instance`, `number`, `user_id` values, or a recipient's columns
    (overview.py reads many chats at once)."""
    out = select(
        M.c.id,
        sa.literal("out").label("direction"),
        M.c.origin.label("origin"),
        M.c.kind.label("kind"),
        M.c.text.label("text"),
        M.c.caption.label("caption"),
        M.c.filename.label("filename"),
        M.c.mime_type.label("mime_type"),
        M.c.media_size.label("size"),
        M.c.details.label("details"),
        _null(_STR).label("media_id"),
        M.c.status.label("status"),
        M.c.telegram_message_id.label("telegram_message_id"),
        M.c.reply_to_telegram_id.label("reply_to_telegram_id"),
        M.c.reply_to.label("reply_to"),
        func.coalesce(M.c.sent_at, M.c.created_at).label("at"),
        M.c.read_at.label("read_at"),
        M.c.edited_at.label("edited_at"),
        M.c.deleted_at.label("deleted_at"),
        sa.literal(False).label("backfilled"),
    ).where(sent_to(instance, number, user_id))
    inbound = (
        select(
            I.c.id,
            sa.literal("in"),
            _null(_STR),
            func.coalesce(I.c.media_kind, "text"),
            I.c.text,
            _null(_TEXT),
            I.c.filename,
            B.c.mime_type,
            B.c.size,
            I.c.location,
            I.c.media_id,
            _null(_STR),
            I.c.telegram_message_id,
            I.c.reply_to_telegram_id,
            _null(_STR),
            I.c.received_at,
            _null(_WHEN),
            I.c.edited_at,
            I.c.deleted_at,
            sa.literal(False),
        )
        .select_from(I.outerjoin(B, B.c.id == I.c.media_id))
        .where(from_person(instance, user_id))
    )
    backfilled = select(
        H.c.id,
        H.c.direction,
        sa.case((H.c.direction == "out", "account"), else_=None),
        H.c.kind,
        H.c.text,
        _null(_TEXT),
        H.c.filename,
        H.c.mime_type,
        H.c.size,
        _null(_TEXT),
        _null(_STR),
        _null(_STR),
        H.c.telegram_message_id,
        H.c.reply_to_telegram_id,
        _null(_STR),
        H.c.sent_at,
        _null(_WHEN),
        _null(_WHEN),
        _null(_WHEN),
        sa.literal(True),
    ).where(_backfilled(instance, user_id))
    return out, inbound, backfilled


def chat(person: Person) -> Any:
    """Every message of the chat with `person`, as one selectable with the same columns."""
    parts = chat_parts(person.instance, person.number, person.user_id)
    return union_all(*parts).subquery("chat")


async def chat_page(
    session: AsyncSession, person: Person, before: tuple[datetime, int, str] | None, limit: int
) -> list[Any]:
    """Up to `limit` messages of the chat, newest first, older than the `before` cursor (the
    `at`, Telegram id (0: none) and id of the previous page's last message). Messages of the
    same moment (Telegram's dates have whole seconds) go by their Telegram id."""
    found = chat(person)
    order = func.coalesce(found.c.telegram_message_id, 0)
    query = select(found)
    if before is not None:
        at, telegram_id, item_id = before
        query = query.where(
            or_(
                found.c.at < at,
                and_(found.c.at == at, order < telegram_id),
                and_(found.c.at == at, order == telegram_id, found.c.id < item_id),
            )
        )
    query = query.order_by(found.c.at.desc(), order.desc(), found.c.id.desc()).limit(limit)
    return list((await session.execute(query)).all())


async def unread_count(session: AsyncSession, person: Person) -> int:
    """The person's messages since the account last wrote to them (see the module's doc)."""
    sent = select(func.max(M.c.telegram_message_id)).where(
        sent_to(person.instance, person.number, person.user_id)
    )
    own = select(func.max(H.c.telegram_message_id)).where(
        H.c.instance == person.instance, H.c.user_id == person.user_id, H.c.direction == "out"
    )
    last = max((await session.scalar(sent)) or 0, (await session.scalar(own)) or 0)
    count = await session.scalar(
        select(func.count()).where(
            from_person(person.instance, person.user_id),
            I.c.deleted_at.is_(None),
            I.c.telegram_message_id > last,
        )
    )
    return int(count or 0)


def _activity() -> Any:
    """(recipient id, at) for every message of every private chat (a send found by number and
    by user id counts twice: only the latest matters)."""
    ours = and_(M.c.instance == R.c.instance, M.c.target_id.is_(None), M.c.group_name.is_(None))
    sent_at = func.coalesce(M.c.sent_at, M.c.created_at)
    return union_all(
        select(R.c.id.label("rid"), sent_at.label("at")).select_from(
            R.join(M, and_(ours, M.c.to_number == R.c.number))
        ),
        select(R.c.id, sent_at).select_from(
            R.join(M, and_(ours, M.c.recipient_user_id == R.c.user_id))
        ),
        select(R.c.id, I.c.received_at).select_from(
            R.join(I, from_person(R.c.instance, R.c.user_id))
        ),
        select(R.c.id, H.c.sent_at).select_from(
            R.join(H, and_(H.c.instance == R.c.instance, H.c.user_id == R.c.user_id))
        ),
    ).subquery("activity")


async def conversation_page(
    session: AsyncSession,
    *,
    statuses: Collection[str] | None,
    instances: Collection[int] | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[Person, datetime]]:
    """People with at least one message, latest activity first: (person, last activity).

    `statuses`/`instances` None: any. `after` is the (last activity, recipient id) of the
    previous page's last person."""
    activity = _activity()
    last = (
        select(activity.c.rid, func.max(activity.c.at).label("last_at"))
        .group_by(activity.c.rid)
        .subquery("last")
    )
    query = (
        select(R, last.c.last_at)
        .select_from(R.join(last, last.c.rid == R.c.id))
        .where(R.c.number.is_not(None))
    )
    if statuses is not None:
        query = query.where(R.c.status.in_(list(statuses)))
    if instances is not None:
        query = query.where(R.c.instance.in_(list(instances)))
    if after is not None:
        at, rid = after
        query = query.where(or_(last.c.last_at < at, and_(last.c.last_at == at, R.c.id < rid)))
    query = query.order_by(last.c.last_at.desc(), R.c.id.desc()).limit(limit)
    rows = (await session.execute(query)).all()
    return [(_person(row), row.last_at) for row in rows]
