"""Where every Telegram update enters the gateway: registration dialogue, inbound messages, reads.

Each update is handled in one transaction, keyed by (instance, Telegram message id), so an update
replayed after a restart (catch-up) changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import SessionFactory, SqlRunner, transaction
from app.events import append_event
from app.instances import set_instance_status
from app.models import InboundMessage, Instance, MediaBlob, Message, Recipient
from app.queueing import QueueClock, Wakeup, new_message
from app.recipients import recipient_data, unregister
from app.settings import Settings
from app.telegram.port import (
    SERVICE_USER_ID,
    ConnectionChanged,
    IncomingMessage,
    LoginAlert,
    OutboxRead,
    Sender,
    Update,
)
from app.timestamps import iso
from app.vocabulary import ACCOUNT_CONDITIONS
from inbound.forward import forward, forward_many, received_data
from inbound.greetings import GreetingMatcher, ReplyKind, reply_text
from inbound.login_alerts import record_login_alert

log = logging.getLogger(__name__)

HINT_INTERVAL = timedelta(days=1)


def phone_digits(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits or None


class InboundProcessor:
    """Handles the updates of one instance (the port's `on_update` callback)."""

    def __init__(
        self,
        instance: int,
        factory: SessionFactory,
        settings: Settings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        stamps: QueueClock | None = None,
        sql: SqlRunner | None = None,
    ) -> None:
        """`sql`: when given, ordinary messages of registered people take the Core hot path
        (inbound/forward.py) on it; everything else goes through the dialogue below."""
        self.instance = instance
        self._sql = sql
        self._factory = factory
        self._settings = settings
        self._wakeup = wakeup
        self._clock = clock
        self._stamps = stamps or QueueClock(clock)
        reg = settings.registration
        self._matcher = GreetingMatcher(reg.greetings, reg.stop_words)
        self._replies = reg.replies

    async def __call__(self, update: Update) -> None:
        if isinstance(update, IncomingMessage):
            await self.on_message(update)
        elif isinstance(update, OutboxRead):
            await self.on_read(update)
        elif isinstance(update, ConnectionChanged):
            await self.on_connection(update)
        elif isinstance(update, LoginAlert):
            await self.on_login_alert(update)

    # --- private messages ---

    async def on_message(self, msg: IncomingMessage) -> None:
        sender = msg.sender
        if sender.user_id == SERVICE_USER_ID or sender.is_bot:
            return  # never answer Telegram's service account (login codes) or bots
        now = self._clock()
        if self._sql is not None and self._ordinary(msg):
            outcome = await self._sql.run(
                partial(forward, instance=self.instance, msg=msg, now=now)
            )
            if outcome != "slow":
                return
        replied = False
        async with transaction(self._factory) as session:
            seen = await session.scalar(
                select(col(InboundMessage.id)).where(
                    and_(
                        col(InboundMessage.instance) == self.instance,
                        col(InboundMessage.telegram_message_id) == msg.message_id,
                    )
                )
            )
            if seen is not None:
                return  # a replay after catch-up: handled already
            recipient = await session.scalar(
                select(Recipient).where(
                    and_(
                        col(Recipient.instance) == self.instance,
                        col(Recipient.user_id) == sender.user_id,
                    )
                )
            )
            handling, replied = await self._dialogue(session, msg, recipient, now)
            await self._store(session, msg, recipient, handling, now)
        if replied:
            self._wakeup.notify(f"send:{self.instance}")

    async def on_messages(self, messages: Sequence[IncomingMessage]) -> int:
        """Handle private messages in order, as `on_message` one after the other would; return
        how many of the leading ones are handled (the caller gives the next to `on_message`).

        For a backend that hands over a burst of updates (the sandbox's pump): the ordinary
        messages of registered people among them are stored in one unit of work instead of one
        each. The first message that needs the dialogue ends the batch, so that nothing after
        it is stored before it.
        """
        if self._sql is None:
            return 0
        stop = len(messages)
        ordinary: list[IncomingMessage] = []
        positions: list[int] = []
        for index, msg in enumerate(messages):
            if msg.sender.user_id == SERVICE_USER_ID or msg.sender.is_bot:
                continue  # as on_message: nothing to do
            if not self._ordinary(msg):
                stop = index
                break
            ordinary.append(msg)
            positions.append(index)
        if ordinary:
            outcomes = await self._sql.run(
                partial(forward_many, instance=self.instance, messages=ordinary, now=self._clock())
            )
            if outcomes[-1] == "slow":
                return positions[len(outcomes) - 1]
        return stop

    def _ordinary(self, msg: IncomingMessage) -> bool:
        """Not a contact card, a greeting or a stop word: nothing for the dialogue to do if the
        sender is registered."""
        if msg.contact is not None:
            return False
        text = msg.text if msg.media is None else ""
        return not text or (
            self._matcher.greeting(text) is None and self._matcher.stop(text) is None
        )

    async def _dialogue(
        self,
        session: AsyncSession,
        msg: IncomingMessage,
        recipient: Recipient | None,
        now: datetime,
    ) -> tuple[str, bool]:
        sender = msg.sender
        text = msg.text if msg.media is None and msg.contact is None else ""
        if msg.contact is not None:
            if recipient is not None and recipient.status == "pending":
                if msg.contact.user_id != sender.user_id:
                    await self._reply(session, sender, recipient.language, "contact_refused", now)
                    return "registration", True
                number = phone_digits(msg.contact.phone)
                if number is not None:
                    kind = await self._register(session, sender, recipient, number, None, now)
                    await self._reply(session, sender, recipient.language, kind, now)
                    return "registration", True
            elif msg.contact.user_id != sender.user_id and (
                recipient is None or recipient.status != "registered"
            ):
                await self._reply(session, sender, "en", "contact_refused", now)
                return "registration", True
        greeting = self._matcher.greeting(text) if text else None
        if greeting is not None:
            language = greeting.language
            number = phone_digits(sender.phone)
            if recipient is not None and recipient.status == "registered":
                recipient.language = language
                _refresh(recipient, sender)
                await self._reply(session, sender, language, "already_registered", now)
                return "registration", True
            if await self._full(session):
                await self._reply(session, sender, language, "full", now)
                return "registration", True
            if number is None:
                recipient = await self._upsert(session, sender, recipient, "pending", language, now)
                await self._reply(session, sender, language, "share_contact", now)
                return "registration", True
            kind = await self._register(session, sender, recipient, number, language, now)
            await self._reply(session, sender, language, kind, now)
            return "registration", True
        stop = self._matcher.stop(text) if text else None
        if stop is not None and recipient is not None and recipient.status != "unregistered":
            await unregister(session, recipient, now, "stop_word")
            await self._reply(session, sender, stop.language, "stopped", now)
            return "registration", True
        if recipient is not None and recipient.status == "registered":
            _refresh(recipient, sender)
            return "forwarded", False
        # Someone who is not registered: one hint a day at most, nothing forwarded.
        if recipient is None:
            recipient = await self._upsert(session, sender, None, "unregistered", "en", now)
        if recipient.last_hint_at is None or recipient.last_hint_at + HINT_INTERVAL <= now:
            recipient.last_hint_at = now
            await self._reply(session, sender, recipient.language, "hint", now)
            return "ignored", True
        return "ignored", False

    async def _full(self, session: AsyncSession) -> bool:
        registered = await session.scalar(
            select(func.count()).select_from(Recipient).where(col(Recipient.status) == "registered")
        )
        return (registered or 0) >= self._settings.limits.max_recipients

    async def _upsert(
        self,
        session: AsyncSession,
        sender: Sender,
        recipient: Recipient | None,
        status: str,
        language: str,
        now: datetime,
    ) -> Recipient:
        if recipient is None:
            recipient = Recipient(
                instance=self.instance,
                user_id=sender.user_id,
                status=status,
                language=language,
                created_at=now,
            )
            session.add(recipient)
        recipient.status = status
        recipient.language = language
        _refresh(recipient, sender)
        return recipient

    async def _register(
        self,
        session: AsyncSession,
        sender: Sender,
        recipient: Recipient | None,
        number: str,
        language: str | None,
        now: datetime,
    ) -> ReplyKind:
        language = language or (recipient.language if recipient else "en")
        recipient = await self._upsert(session, sender, recipient, "registered", language, now)
        recipient.number = number
        recipient.registered_at = now
        recipient.unregistered_at = None
        await session.flush()
        # A number belongs to one account: an older registration of it (a re-used SIM) ends.
        others = await session.scalars(
            select(Recipient).where(
                and_(
                    col(Recipient.instance) == self.instance,
                    col(Recipient.number) == number,
                    col(Recipient.status) == "registered",
                    col(Recipient.id) != recipient.id,
                )
            )
        )
        for other in others:
            other.status = "unregistered"
            other.unregistered_at = now
        await append_event(
            session,
            "recipient.registered",
            now=now,
            instance=self.instance,
            number=number,
            gateway_number=await self._gateway_number(session),
            data=recipient_data(recipient),
        )
        return "registered"

    async def _reply(
        self, session: AsyncSession, sender: Sender, language: str, kind: ReplyKind, now: datetime
    ) -> None:
        session.add(
            new_message(
                instance=self.instance,
                kind="text",
                now=now,
                created_at=self._stamps(),
                origin="system",
                recipient_user_id=sender.user_id,
                recipient_access_hash=sender.access_hash,
                text=reply_text(kind, language, self._replies),
            )
        )

    async def _store(
        self,
        session: AsyncSession,
        msg: IncomingMessage,
        recipient: Recipient | None,
        handling: str,
        now: datetime,
    ) -> None:
        media_id = None
        if msg.media is not None and handling == "forwarded":
            media_id = str(uuid.uuid4())
            session.add(
                MediaBlob(
                    id=media_id,
                    sha256=hashlib.sha256(msg.media.data).hexdigest(),
                    size=len(msg.media.data),
                    mime_type=msg.media.mime_type or "application/octet-stream",
                    data=msg.media.data,
                    created_at=now,
                )
            )
            await session.flush()  # the row that points at the blob must come after it
        number = recipient.number if recipient is not None else phone_digits(msg.sender.phone)
        row = InboundMessage(
            id=str(uuid.uuid4()),
            instance=self.instance,
            telegram_message_id=msg.message_id,
            sender_user_id=msg.sender.user_id,
            number=number,
            text=msg.text or None,
            media_kind=msg.media.kind if msg.media else ("contact" if msg.contact else None),
            media_id=media_id,
            filename=msg.media.filename if msg.media else None,
            reply_to_telegram_id=msg.reply_to_message_id,
            handling=handling,
            received_at=now,
        )
        session.add(row)
        if handling == "forwarded":
            await append_event(
                session,
                "message.received",
                now=now,
                instance=self.instance,
                number=number,
                message=msg.text or "",
                gateway_number=await self._gateway_number(session),
                data=await self._received_data(session, row, msg),
            )

    async def _received_data(
        self, session: AsyncSession, row: InboundMessage, msg: IncomingMessage
    ) -> dict[str, Any]:
        ours = None
        if msg.reply_to_message_id is not None:
            ours = await session.scalar(
                select(col(Message.id)).where(
                    and_(
                        col(Message.instance) == self.instance,
                        col(Message.telegram_message_id) == msg.reply_to_message_id,
                    )
                )
            )
        return received_data(
            inbound_id=row.id,
            msg=msg,
            number=row.number,
            media_id=row.media_id,
            received_at=row.received_at,
            reply_to_ours=ours,
        )

    async def _gateway_number(self, session: AsyncSession) -> str | None:
        inst = await session.get(Instance, self.instance)
        return inst.phone if inst else None

    # --- read marks ---

    async def on_read(self, read: OutboxRead) -> None:
        now = self._clock()
        async with transaction(self._factory) as session:
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
        async with transaction(self._factory) as session:
            await record_login_alert(
                session,
                self.instance,
                alert,
                now=self._clock(),
                gateway_number=await self._gateway_number(session),
            )

    async def on_connection(self, change: ConnectionChanged) -> None:
        now = self._clock()
        async with transaction(self._factory) as session:
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


def _refresh(recipient: Recipient, sender: Sender) -> None:
    recipient.access_hash = sender.access_hash
    recipient.first_name = sender.first_name
    recipient.last_name = sender.last_name
    recipient.username = sender.username
