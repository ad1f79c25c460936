"""The conversation list's details of a whole page of people at once: each one's latest
message and unread count, in one query each (whatever the page's size), with the same answers
as reading each chat (reads.py `chat_page`, `unread_count`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.history.reads import H, I, M, Person, R, chat_parts, from_person, sent_to


async def latest_messages(session: AsyncSession, people: Sequence[Person]) -> dict[int, Any]:
    """Each person's latest message (as `chat_page(..., 1)` finds it), by recipient id; a
    person without one is absent."""
    ids = [person.id for person in people]
    if not ids:
        return {}
    parts = chat_parts(R.c.instance, R.c.number, R.c.user_id)
    chats = union_all(
        *(part.add_columns(R.c.id.label("rid")).where(R.c.id.in_(ids)) for part in parts)
    ).subquery("chats")
    order = func.coalesce(chats.c.telegram_message_id, 0)
    rank = func.row_number().over(
        partition_by=chats.c.rid, order_by=(chats.c.at.desc(), order.desc(), chats.c.id.desc())
    )
    ranked = select(chats, rank.label("rank")).subquery("ranked")
    rows = await session.execute(select(ranked).where(ranked.c.rank == 1))
    return {int(row.rid): row for row in rows}


async def unread_counts(session: AsyncSession, people: Sequence[Person]) -> dict[int, int]:
    """Each person's unread count (as `unread_count` finds it), by recipient id."""
    ids = [person.id for person in people]
    if not ids:
        return {}
    # Per person: the account's latest message in the chat (sent, or backfilled of its own).
    sent = (
        select(func.max(M.c.telegram_message_id))
        .where(sent_to(R.c.instance, R.c.number, R.c.user_id))
        .correlate(R)
        .scalar_subquery()
    )
    own = (
        select(func.max(H.c.telegram_message_id))
        .where(H.c.instance == R.c.instance, H.c.user_id == R.c.user_id, H.c.direction == "out")
        .correlate(R)
        .scalar_subquery()
    )
    lasts = select(
        R.c.id,
        R.c.instance,
        R.c.user_id,
        func.coalesce(sent, 0).label("sent"),
        func.coalesce(own, 0).label("own"),
    ).where(R.c.id.in_(ids))
    found = lasts.subquery("lasts")
    last = case((found.c.sent > found.c.own, found.c.sent), else_=found.c.own)
    theirs = and_(
        from_person(found.c.instance, found.c.user_id),
        I.c.deleted_at.is_(None),
        I.c.telegram_message_id > last,
    )
    query = (
        select(found.c.id, func.count(I.c.id).label("unread"))
        .select_from(found.outerjoin(I, theirs))
        .group_by(found.c.id)
    )
    return {int(row.id): int(row.unread) for row in await session.execute(query)}
