"""Groups the account is in: which ones' messages are forwarded, and the record of the groups an
instance has seen.

A group message is forwarded when its sender is registered with the instance, or when the group
is allowed: by `[[instances]] allowed_groups`, unless the admin API said otherwise (its word,
`inbound_group.allowed`, wins both ways). The gateway never answers in a group: no greeting
dialogue, no hints, no registration there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.events import conversation_key
from app.models import InboundGroup, table_of
from app.telegram.port import SERVICE_USER_ID, GroupRef, IncomingMessage
from app.vocabulary import EventType, RecipientStatus
from inbound.dialogue import NOTHING, Decision, Person

G = table_of(InboundGroup)

_SEL_GROUPS = select(G.c.group_id, G.c.allowed).where(
    G.c.instance == bindparam("instance"), G.c.group_id.in_(bindparam("ids"))
)
_INSERT_GROUP = insert(G)
_UPDATE_SEEN = (
    update(G)
    .where(G.c.instance == bindparam("b_instance"), G.c.group_id == bindparam("b_group"))
    .values(
        title=bindparam("b_title"),
        is_channel=bindparam("b_channel"),
        last_message_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
)


def group_conversation(instance: int, group_id: int) -> str | None:
    """The webhook ordering key of a group's events: "<instance>:g:<group id>"."""
    return conversation_key(instance, group=str(group_id))


def group_data(group: GroupRef | None) -> dict[str, Any] | None:
    """`data.group` of an event: null for a private chat."""
    if group is None:
        return None
    return {"id": group.chat_id, "title": group.title}


def channel_of(group: GroupRef | None) -> int:
    """Where Telegram numbers a message: a megagroup's channel counts its own ids; private
    chats and basic groups share the account's box (0)."""
    return group.chat_id if group is not None and group.is_channel else 0


def is_allowed(group_id: int, configured: Collection[int], word: bool | None) -> bool:
    """The admin API's word when it gave one, else the configuration's."""
    return word if word is not None else group_id in configured


def plan_group(msg: IncomingMessage, person: Person | None, allowed: bool, seen: bool) -> Decision:
    """A group message: forwarded from a registered person or in an allowed group, else
    nothing at all (not stored, never answered)."""
    sender = msg.sender
    if sender.user_id == SERVICE_USER_ID or sender.is_bot or seen:
        return NOTHING
    registered = person is not None and person.status == RecipientStatus.REGISTERED
    if not (registered or allowed):
        return NOTHING
    number = person.number if person is not None and registered else None
    return Decision("forwarded", None, number=number, events=(EventType.MESSAGE_RECEIVED,))


# --- the record of groups (sync: the message store's unit of work) ---


def allowed_of(
    conn: Connection, instance: int, configured: Collection[int], groups: Iterable[int]
) -> set[int]:
    """Which of `groups` are allowed now."""
    ids = list(set(groups))
    if not ids:
        return set()
    words = {
        int(row.group_id): row.allowed
        for row in conn.execute(_SEL_GROUPS, {"instance": instance, "ids": ids})
    }
    return {g for g in ids if is_allowed(g, configured, words.get(g))}


def note_groups(conn: Connection, instance: int, groups: Iterable[GroupRef], now: datetime) -> None:
    """Remember the groups messages came from (their latest titles), for the admin API."""
    latest = {group.chat_id: group for group in groups}
    if not latest:
        return
    params = {"instance": instance, "ids": list(latest)}
    known = {int(row.group_id) for row in conn.execute(_SEL_GROUPS, params)}
    new = [
        {
            "instance": instance,
            "group_id": g.chat_id,
            "title": g.title[:255],
            "is_channel": g.is_channel,
            "allowed": None,
            "last_message_at": now,
            "updated_at": now,
        }
        for g in latest.values()
        if g.chat_id not in known
    ]
    seen = [
        {
            "b_instance": instance,
            "b_group": g.chat_id,
            "b_title": g.title[:255],
            "b_channel": g.is_channel,
            "b_now": now,
        }
        for g in latest.values()
        if g.chat_id in known
    ]
    if new:
        conn.execute(_INSERT_GROUP, new)
    if seen:
        conn.execute(_UPDATE_SEEN, seen)


# --- the admin API ---


@dataclass(frozen=True)
class GroupView:
    group_id: int
    title: str | None
    allowed: bool
    # Where `allowed` comes from: "admin" (the admin API), "config" or "default" (not allowed).
    source: str
    last_message_at: datetime | None


def _view(row: InboundGroup, configured: Collection[int]) -> GroupView:
    if row.allowed is not None:
        source = "admin"
    else:
        source = "config" if row.group_id in configured else "default"
    return GroupView(
        group_id=row.group_id,
        title=row.title,
        allowed=is_allowed(row.group_id, configured, row.allowed),
        source=source,
        last_message_at=row.last_message_at,
    )


async def list_groups(
    session: AsyncSession, instance: int, configured: Collection[int]
) -> list[GroupView]:
    """The groups of the instance: those seen, those the admin ruled on, and the configured
    ones (even before a message came from them)."""
    rows = list(
        await session.scalars(
            select(InboundGroup)
            .where(col(InboundGroup.instance) == instance)
            .order_by(col(InboundGroup.group_id))
        )
    )
    views = [_view(row, configured) for row in rows]
    listed = {row.group_id for row in rows}
    views += [
        GroupView(group_id=g, title=None, allowed=True, source="config", last_message_at=None)
        for g in sorted(set(configured) - listed)
    ]
    return sorted(views, key=lambda view: view.group_id)


async def rule_on_group(
    session: AsyncSession,
    instance: int,
    group_id: int,
    allowed: bool,
    configured: Collection[int],
    now: datetime,
) -> GroupView:
    """The admin allows (or disallows) a group's messages, seen yet or not."""
    row = await session.get(InboundGroup, (instance, group_id))
    if row is None:
        row = InboundGroup(instance=instance, group_id=group_id, updated_at=now)
        session.add(row)
    row.allowed = allowed
    row.updated_at = now
    await session.flush()
    return _view(row, configured)
