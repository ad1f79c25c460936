"""Where every Telegram update enters the gateway: inbound messages (the registration dialogue
and storing them), read receipts, login alerts, connection changes.

A backend hands over one update or several in order (the port's `UpdateHandler`). Each run of
consecutive messages is stored in one unit of work (inbound/store.py, with the decisions of
inbound/dialogue.py); the other updates are handled one at a time. Everything is keyed so that
an update replayed after a restart (catch-up) changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import Database
from app.events import append_event
from app.instances import set_instance_status
from app.models import Instance, Message, Recipient
from app.queueing import QueueClock, Wakeup
from app.settings import Settings
from app.telegram.port import (
    ConnectionChanged,
    IncomingMessage,
    LoginAlert,
    MessageEdited,
    MessagesDeleted,
    OutboxRead,
    ReactionChanged,
    ReactionsListed,
    Update,
)
from app.timestamps import iso
from app.vocabulary import ACCOUNT_CONDITIONS
from inbound.changes import Changes
from inbound.dialogue import Rules
from inbound.greetings import GreetingMatcher
from inbound.login_alerts import record_login_alert
from inbound.store import Batch, store_messages

log = logging.getLogger(__name__)

_ONE = (
    IncomingMessage,
    OutboxRead,
    ConnectionChanged,
    LoginAlert,
    MessageEdited,
    MessagesDeleted,
    ReactionChanged,
    ReactionsListed,
)


class InboundProcessor:
    """Handles the updates of one instance (the port's update handler)."""

    def __init__(
        self,
        instance: int,
        database: Database,
        settings: Settings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        stamps: QueueClock | None = None,
    ) -> None:
        """`sql`: the runner the messages are stored through (inbound/store.py)."""
        self.instance = instance
        self._db = database
        self._settings = settings
        self._wakeup = wakeup
        self._clock = clock
        self._stamps = stamps or QueueClock(clock)
        reg = settings.registration
        self._rules = Rules(GreetingMatcher(reg.greetings, reg.stop_words), reg.replies)
        conf = settings.instance(instance)
        self._groups = frozenset(conf.allowed_groups if conf is not None else ())

    async def __call__(self, updates: Update | Sequence[Update]) -> None:
        """Handle the updates in order (a single update is taken as one). When this raises,
        the updates before the failing one may be handled already: the backend offers them
        again and they change nothing the second time."""
        batch: Sequence[Update] = [updates] if isinstance(updates, _ONE) else updates
        run: list[IncomingMessage] = []
        for update in batch:
            if isinstance(update, IncomingMessage):
                run.append(update)
                continue
            if run:
                await self.on_messages(run)
                run = []
            if isinstance(update, OutboxRead):
                await self.on_read(update)
            elif isinstance(update, ConnectionChanged):
                await self.on_connection(update)
            elif isinstance(update, LoginAlert):
                await self.on_login_alert(update)
            else:  # an edit, a deletion, a reaction
                await self.on_change(update)
        if run:
            await self.on_messages(run)

    # --- private messages ---

    async def on_messages(self, messages: Sequence[IncomingMessage]) -> None:
        """Store the messages, in order, in one unit of work; queue the dialogue's replies."""
        batch = Batch(
            instance=self.instance,
            messages=messages,
            now=self._clock(),
            rules=self._rules,
            max_recipients=self._settings.limits.max_recipients,
            stamps=[self._stamps() for _ in messages],
            configured_groups=self._groups,
        )
        replies = await self._db.run(partial(store_messages, batch=batch))
        if replies:
            self._wakeup.notify(f"send:{self.instance}")

    async def _gateway_number(self, session: AsyncSession) -> str | None:
        inst = await session.get(Instance, self.instance)
        return inst.phone if inst else None

    # --- edits, deletions, reactions (inbound/changes.py) ---

    async def on_change(
        self, change: MessageEdited | MessagesDeleted | ReactionChanged | ReactionsListed
    ) -> None:
        async with self._db.write() as session:
            changes = Changes(session, self.instance, self._clock())
            if isinstance(change, MessageEdited):
                await changes.edited(change)
            elif isinstance(change, MessagesDeleted):
                await changes.deleted(change)
            elif isinstance(change, ReactionChanged):
                await changes.reacted(change, self._groups)
            else:
                await changes.listed(change, self._groups)

    # --- read marks ---

    async def on_read(self, read: OutboxRead) -> None:
        now = self._clock()
        async with self._db.write() as session:
            recipient = await session.scalar(
                select(Recipient).where(
                    and_(
                        col(Recipient.instance) == self.instance,
                        col(Recipient.user_id) == read.user_id,
                    )
                )
            )
            to_this_person = col(Message.recipient_user_id) == read.user_id
            if recipient is not None and recipient.number:
                to_this_person = or_(to_this_person, col(Message.to_number) == recipient.number)
            rows = await session.scalars(
                select(Message).where(
                    and_(
                        col(Message.instance) == self.instance,
                        col(Message.status) == "sent",
                        col(Message.group_name).is_(None),
                        col(Message.telegram_message_id) <= read.max_id,
                        to_this_person,
                    )
                )
            )
            gateway_number = await self._gateway_number(session)
            for row in rows:
                row.status = "read"
                row.read_at = now
                if row.origin == "api":
                    await append_event(
                        session,
                        "message.read",
                        now=now,
                        instance=self.instance,
                        number=row.to_number,
                        gateway_number=gateway_number,
                        data={
                            "id": row.id,
                            "to": row.to_number,
                            "telegram_message_id": row.telegram_message_id,
                            "read_at": iso(now),
                        },
                    )

    # --- logins from other devices ---

    async def on_login_alert(self, alert: LoginAlert) -> None:
        """One `account.login_alert` per login, whether Telegram's update, its 777000 notice or
        both announce it (inbound/login_alerts.py). The notice is never answered or stored as a
        message: the backends hand it over as this alert, not as an IncomingMessage."""
        async with self._db.write() as session:
            await record_login_alert(
                session,
                self.instance,
                alert,
                now=self._clock(),
                gateway_number=await self._gateway_number(session),
            )

    async def on_connection(self, change: ConnectionChanged) -> None:
        now = self._clock()
        async with self._db.write() as session:
            inst = await session.get(Instance, self.instance)
            if inst is None:
                return
            condition = inst.status in ACCOUNT_CONDITIONS
            if change.state in ("disconnected", "ready") and condition and not _paused(inst, now):
                # The account is restricted or frozen (a check said so): losing or regaining
                # the connection says nothing about that; a later check does.
                return
            if change.state == "disconnected":
                await set_instance_status(session, inst, inst.status, change.detail, now)
            elif change.state == "ready" and _paused(inst, now):
                # Back online during a pause (FloodWait, PEER_FLOOD): it stands (the worker
                # ends it).
                await set_instance_status(session, inst, inst.status, None, now)
            else:
                await set_instance_status(session, inst, change.state, change.detail, now)


def _paused(inst: Instance, now: datetime) -> bool:
    return inst.paused_until is not None and inst.paused_until > now
