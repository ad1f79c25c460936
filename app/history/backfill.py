"""Backfilling a private chat from Telegram's own history (the port's `history`, Telethon's
messages.getHistory): what the gateway never stored (the account's messages sent from the
phone, the person's from before the gateway ran) goes into `history_message`.

Backfilled messages are history, not news: they make no event and no webhook, and the send
queue and the inbound pipeline never see them. A message the gateway already has (in `message`
or `inbound_message`, or from an earlier backfill) is counted as known, by its Telegram id.

Telegram is asked gently: pages of at most HISTORY_PAGE_MAX, at most MAX_PAGES per call, a
pause between pages, one backfill per instance at a time. A FloodWait stops the backfill (what
was stored stays) and is remembered: until it ends, every backfill of that instance is refused
at once without asking Telegram again.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from app.db import Database
from app.history.reads import H, I, M, Person
from app.telegram.port import HISTORY_PAGE_MAX, FloodWait, HistoryItem, TelegramBackend, UserPeer

MAX_PAGES = 5
MAX_MESSAGES = MAX_PAGES * HISTORY_PAGE_MAX


@dataclass(frozen=True)
class BackfillResult:
    scanned: int  # messages Telegram returned
    stored: int  # new to the gateway: now in the history
    known: int  # the gateway had them already
    pages: int  # calls to Telegram
    # Where to go on (the `before_id` of the next backfill); None: the chat's start was reached.
    next_before_id: int | None
    # Telegram asked to wait this long after some pages: the backfill stopped early.
    flood_wait_s: int | None = None


class Backfills:
    """What every backfill of this process shares: one at a time per instance, and the end of
    the last FloodWait per instance."""

    def __init__(
        self,
        page_pause_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.page_pause_s = page_pause_s
        self.sleep = sleep
        self._turns: dict[int, asyncio.Lock] = {}
        self._waiting_until: dict[int, datetime] = {}

    async def backfill(
        self,
        database: Database,
        backend: TelegramBackend,
        person: Person,
        *,
        before_id: int,
        limit: int,
        clock: Callable[[], datetime],
    ) -> BackfillResult:
        """Up to `limit` messages older than `before_id` (0: from the newest). Raises FloodWait
        when Telegram asks to wait before any page came, or an earlier wait has not ended."""
        instance = person.instance
        self._check_wait(instance, clock())
        turn = self._turns.setdefault(instance, asyncio.Lock())
        async with turn:
            self._check_wait(instance, clock())  # a backfill before ours may have hit one
            peer = UserPeer(person.user_id, person.access_hash)
            scanned = stored = pages = 0
            left = min(limit, MAX_MESSAGES)
            while True:
                asked = min(left, HISTORY_PAGE_MAX)
                try:
                    items = await backend.history(peer, before_id, asked)
                except FloodWait as exc:
                    self._waiting_until[instance] = clock() + timedelta(seconds=exc.seconds)
                    if pages == 0:
                        raise
                    return BackfillResult(
                        scanned, stored, scanned - stored, pages, before_id, exc.seconds
                    )
                pages += 1
                scanned += len(items)
                stored += await database.run(
                    partial(
                        _store, instance=instance, user_id=person.user_id, items=items, now=clock()
                    )
                )
                left -= len(items)
                if len(items) < asked or not items:
                    return BackfillResult(scanned, stored, scanned - stored, pages, None)
                before_id = min(item.message_id for item in items)
                if left <= 0 or pages >= MAX_PAGES:
                    return BackfillResult(scanned, stored, scanned - stored, pages, before_id)
                await self.sleep(self.page_pause_s)

    def _check_wait(self, instance: int, now: datetime) -> None:
        until = self._waiting_until.get(instance)
        if until is not None and now < until:
            raise FloodWait(max(1, math.ceil((until - now).total_seconds())))


def _store(
    conn: Connection, instance: int, user_id: int, items: Sequence[HistoryItem], now: datetime
) -> int:
    """Store the page's messages the gateway does not have; how many were new."""
    ids = [item.message_id for item in items]
    if not ids:
        return 0
    known = set(
        conn.execute(
            select(I.c.telegram_message_id).where(
                I.c.instance == instance, I.c.channel_id == 0, I.c.telegram_message_id.in_(ids)
            )
        ).scalars()
    )
    known.update(
        conn.execute(
            select(M.c.telegram_message_id).where(
                M.c.instance == instance, M.c.telegram_message_id.in_(ids)
            )
        ).scalars()
    )
    known.update(
        conn.execute(
            select(H.c.telegram_message_id).where(
                H.c.instance == instance, H.c.telegram_message_id.in_(ids)
            )
        ).scalars()
    )
    rows = [
        {
            "id": str(uuid.uuid4()),
            "instance": instance,
            "user_id": user_id,
            "telegram_message_id": item.message_id,
            "direction": "out" if item.outgoing else "in",
            "kind": item.kind,
            "text": item.text or None,
            "filename": (item.filename or "")[:255] or None,
            "mime_type": (item.mime_type or "")[:127] or None,
            "size": item.size,
            "reply_to_telegram_id": item.reply_to_message_id,
            "sent_at": item.date,
            "backfilled_at": now,
        }
        for item in items
        if item.message_id not in known
    ]
    if not rows:
        return 0
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    # Another process backfilling the same chat at once: the first row stands.
    result = conn.execute(insert(H).values(rows).on_conflict_do_nothing())
    return max(0, int(result.rowcount or 0))
