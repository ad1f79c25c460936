"""A client's pull queues: create (idempotent for the same settings), find, list, delete."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.db import Database
from app.errors import ApiError
from app.models import Event, EventQueue, table_of

E = table_of(Event)
Q = table_of(EventQueue)

# Starting with a letter or digit: "." and ".." would not survive as a URL path segment.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Queues one client may have: each is read on every `next` and listed with its count.
MAX_QUEUES_PER_CLIENT = 100
# `pending` is counted up to this many: beyond it the exact number is not worth the scan.
PENDING_COUNT_CAP = 1000


@dataclass(frozen=True)
class QueueSettings:
    """What a queue is: compared when a queue of the same name is created again."""

    types: tuple[str, ...] | None
    instance: int | None
    visibility_timeout_s: int

    def stored_types(self) -> str | None:
        return None if self.types is None else orjson.dumps(list(self.types)).decode()


def settings_of(queue: EventQueue) -> QueueSettings:
    types = None if queue.types is None else tuple(orjson.loads(queue.types))
    return QueueSettings(types, queue.instance, queue.visibility_timeout_s)


def not_found(name: str) -> ApiError:
    return ApiError("not_found", f"No event queue named {name[:64]!r} for this client")


def checked_name(name: str) -> str:
    """A queue name from a path: one that cannot be a name is simply not found."""
    if not NAME.fullmatch(name):
        raise not_found(name)
    return name


def matching(queue: EventQueue, instances: Collection[int] | None) -> list[ColumnElement[bool]]:
    """The conditions on `event` rows the queue hands out to a client limited to `instances`
    (None: every instance). The key's limits are applied on every read, not stored: a key
    limited later sees no more than it may."""
    found: list[ColumnElement[bool]] = []
    settings = settings_of(queue)
    if settings.types is not None:
        found.append(E.c.type.in_(settings.types))
    if settings.instance is not None:
        found.append(E.c.instance == settings.instance)
    if instances is not None:
        found.append(E.c.instance.in_(sorted(instances)))
    return found


async def last_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(col(Event.seq)))) or 0)


async def find_queue(session: AsyncSession, client_id: str, name: str) -> EventQueue:
    found = await session.scalar(
        select(EventQueue).where(
            col(EventQueue.client_id) == client_id, col(EventQueue.name) == checked_name(name)
        )
    )
    if found is None:
        raise not_found(name)
    return found


async def create_queue(
    database: Database,
    client_id: str,
    name: str,
    settings: QueueSettings,
    start_after: int | None,
    now: datetime,
) -> tuple[EventQueue, bool]:
    """The client's queue `name` and whether it was created now.

    `start_after`: the seq after which it starts (None: the last event now, so only events
    from now on). A queue of that name that exists already is returned unchanged if its
    settings are `settings` (its position is kept: creating it again at a consumer's every
    start is harmless); with other settings it is a `conflict` (409).
    """
    try:
        async with database.write() as session:
            existing = await _existing(session, client_id, name)
            if existing is not None:
                return _same_or_conflict(existing, settings), False
            count = await session.scalar(
                select(func.count()).select_from(Q).where(Q.c.client_id == client_id)
            )
            if int(count or 0) >= MAX_QUEUES_PER_CLIENT:
                raise ApiError(
                    "conflict",
                    f"This client has {MAX_QUEUES_PER_CLIENT} event queues already, the most "
                    "it may have: delete one first",
                )
            position = await last_seq(session) if start_after is None else start_after
            queue = EventQueue(
                client_id=client_id,
                name=name,
                types=settings.stored_types(),
                instance=settings.instance,
                visibility_timeout_s=settings.visibility_timeout_s,
                acked_seq=position,
                leased_through_seq=position,
                created_at=now,
                updated_at=now,
            )
            session.add(queue)
            await session.flush()
            return queue, True
    except IntegrityError:
        # Created by another request at the same moment: theirs, if it is the same queue.
        async with database.read() as session:
            existing = await _existing(session, client_id, name)
        if existing is None:
            raise
        return _same_or_conflict(existing, settings), False


async def _existing(session: AsyncSession, client_id: str, name: str) -> EventQueue | None:
    try:
        return await find_queue(session, client_id, name)
    except ApiError:
        return None


def _same_or_conflict(existing: EventQueue, settings: QueueSettings) -> EventQueue:
    if settings_of(existing) != settings:
        raise ApiError(
            "conflict",
            f"An event queue named {existing.name!r} exists already with other settings "
            f"({_describe(settings_of(existing))}): delete it first, or use another name",
        )
    return existing


def _describe(settings: QueueSettings) -> str:
    types = "every type" if settings.types is None else ", ".join(settings.types)
    instance = "every instance" if settings.instance is None else f"instance {settings.instance}"
    return f"{types}; {instance}; visibility_timeout_s {settings.visibility_timeout_s}"


async def list_queues(session: AsyncSession, client_id: str) -> list[EventQueue]:
    rows = await session.scalars(
        select(EventQueue)
        .where(col(EventQueue.client_id) == client_id)
        .order_by(col(EventQueue.name))
    )
    return list(rows)


async def pending_count(
    session: AsyncSession, queue: EventQueue, instances: Collection[int] | None
) -> int:
    """Events not acknowledged yet (handed out or not), at most PENDING_COUNT_CAP."""
    window = (
        select(E.c.seq)
        .where(and_(E.c.seq > queue.acked_seq, *matching(queue, instances)))
        .limit(PENDING_COUNT_CAP)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(window)) or 0)


async def delete_queue(database: Database, client_id: str, name: str) -> None:
    async with database.write() as session:
        gone = await session.execute(
            delete(Q).where(Q.c.client_id == client_id, Q.c.name == checked_name(name))
        )
        if gone.rowcount != 1:  # type: ignore[attr-defined]
            raise not_found(name)


def lease_is_live(queue: EventQueue | dict[str, Any], now: datetime) -> bool:
    """Events after `acked_seq` through `leased_through_seq` are handed out and not yet due
    again."""
    row = queue if isinstance(queue, dict) else queue.model_dump()
    expires = row["lease_expires_at"]
    return bool(
        expires is not None and expires > now and row["leased_through_seq"] > row["acked_seq"]
    )
