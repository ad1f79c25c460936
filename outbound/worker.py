"""The send worker: one per instance, drains the queue table towards Telegram.

Exactly once towards Telegram: every message carries the random_id chosen when it was accepted.
A message is claimed (status `sending`, a short lease in `next_attempt_at`) and committed before
the call; if the process dies mid-send, the lease runs out, the message is claimed again and sent
with the same random_id, which Telegram answers with RANDOM_ID_DUPLICATE (AlreadySent) instead
of a second copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import SessionFactory, transaction
from app.events import append_event
from app.instances import set_instance_status
from app.models import InboundMessage, Instance, MediaBlob, Message, Recipient
from app.queueing import Wakeup
from app.settings import Settings
from app.telegram.port import (
    AlreadySent,
    FloodWait,
    MediaKind,
    MessageRejected,
    NotLoggedIn,
    OutgoingMedia,
    OutgoingMessage,
    Peer,
    PeerFlood,
    RecipientError,
    SentMessage,
    SessionRevoked,
    TelegramBackend,
    TransientError,
    UserPeer,
)
from outbound.pacing import Pacer, retry_delay_s

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=10)
SEND_TIMEOUT_S = 60.0
PEER_FLOOD_PAUSE = timedelta(hours=1)
IDLE_POLL_S = 1.0


@dataclass(frozen=True)
class Outcome:
    """What became of one send attempt; applied to the database after the call."""

    kind: str  # sent | failed | retry | release
    sent: SentMessage | None = None
    error_code: str | None = None
    detail: str | None = None
    retry_at: datetime | None = None


class SendWorker:
    def __init__(
        self,
        instance: int,
        backend: TelegramBackend,
        factory: SessionFactory,
        settings: Settings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        *,
        paced: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        batch_size: int = 64,
    ) -> None:
        self.instance = instance
        self._backend = backend
        self._factory = factory
        self._settings = settings
        self._wakeup = wakeup
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        sending = settings.sending
        self._pacer = (
            Pacer(sending.per_second, sending.per_recipient_interval_s) if paced else Pacer(0, 0)
        )
        self._batch_size = batch_size if not self._pacer.enabled else max(1, min(batch_size, 8))
        self._ttl = timedelta(seconds=sending.message_ttl_s)

    @property
    def topic(self) -> str:
        return f"send:{self.instance}"

    async def run(self) -> None:
        await self.recover()
        while True:
            try:
                wait_s = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("send worker %s: step failed", self.instance)
                wait_s = IDLE_POLL_S
            if wait_s > 0:
                await self._wakeup.wait(self.topic, min(wait_s, IDLE_POLL_S))

    async def recover(self) -> int:
        """Make this instance's `sending` rows due now: the process that claimed them is gone.

        Waiting out their lease would let later messages to the same person overtake them. Were
        another process still sending one, its random_id makes Telegram refuse the second copy
        (AlreadySent), so this never sends twice.
        """
        now = self._clock()
        async with transaction(self._factory) as session:
            result = await session.execute(
                update(Message)
                .where(col(Message.instance) == self.instance, col(Message.status) == "sending")
                .values(next_attempt_at=now)
            )
        count: int = result.rowcount  # type: ignore[attr-defined]
        if count:
            log.info("send worker %s: %d interrupted sends are due again", self.instance, count)
        return count

    async def step(self) -> float:
        """Do one round of work; return how long to wait before the next (0: go on)."""
        now = self._clock()
        await self._expire_stale(now)
        async with transaction(self._factory) as session:
            inst = await session.get(Instance, self.instance)
            if inst is None:
                return IDLE_POLL_S
            if inst.status in ("revoked", "logged_out") or inst.status.startswith("awaiting"):
                return IDLE_POLL_S  # the queue holds its messages until a login or their TTL
            if inst.paused_until is not None:
                if inst.paused_until > now:
                    return (inst.paused_until - now).total_seconds()
                inst.paused_until = None
                await set_instance_status(session, inst, "ready", None, now)
        batch, wait_s = await self._claim(now)
        if not batch:
            return wait_s
        results: list[tuple[Message, Outcome]] = []
        for message in batch:
            outcome = await self._send_one(message)
            results.append((message, outcome))
            if outcome.kind == "release":
                break  # the instance pauses: the rest of the batch goes back to the queue
        # One transaction records the whole batch. Should the process die before it commits,
        # the claims run out and the messages go again with their random_ids: AlreadySent.
        unsent = batch[len(results) :]
        async with transaction(self._factory) as session:
            for message, outcome in results:
                await self._apply(session, message, outcome, unsent)
        return 0.0

    # --- claiming ---

    async def _claim(self, now: datetime) -> tuple[list[Message], float]:
        # `sending` rows whose lease ran out were claimed by a process that died mid-send.
        due = col(Message.status).in_(("queued", "sending"))
        async with transaction(self._factory) as session:
            query = (
                select(Message)
                .where(
                    and_(
                        col(Message.instance) == self.instance,
                        due,
                        col(Message.next_attempt_at) <= now,
                    )
                )
                .order_by(col(Message.created_at))
                .limit(self._batch_size * 4)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            candidates = list(await session.scalars(query))
            if not candidates:
                return [], await self._next_due_in(session, now)
            waiting = await self._waiting_conversations(session, now)
            chosen, wait_s = self._plan(candidates, waiting)
            if not chosen:
                return [], wait_s
            lease = now + CLAIM_LEASE
            for message in chosen:
                message.status = "sending"
                message.attempts += 1
                message.next_attempt_at = lease
            return chosen, 0.0

    async def _waiting_conversations(
        self, session: AsyncSession, now: datetime
    ) -> dict[str, datetime]:
        """Conversations with a message waiting for a retry: peer key -> its oldest created_at."""
        rows = await session.execute(
            select(
                col(Message.to_number),
                col(Message.recipient_user_id),
                col(Message.group_name),
                col(Message.group_admin),
                func.min(col(Message.created_at)),
            )
            .where(
                col(Message.instance) == self.instance,
                col(Message.status).in_(("queued", "sending")),
                col(Message.next_attempt_at) > now,
            )
            .group_by(
                col(Message.to_number),
                col(Message.recipient_user_id),
                col(Message.group_name),
                col(Message.group_admin),
            )
        )
        waiting: dict[str, datetime] = {}
        for to_number, user_id, group_name, group_admin, oldest in rows:
            waiting[_conversation(to_number, user_id, group_name, group_admin)] = oldest
        return waiting

    def _plan(
        self, candidates: list[Message], waiting: dict[str, datetime] | None = None
    ) -> tuple[list[Message], float]:
        """Pick what may go now, keeping each conversation's order (pure, in memory).

        A message waiting for its retry holds the later messages of its conversation.
        """
        waiting = waiting or {}
        mono = self._monotonic()
        chosen: list[Message] = []
        held: set[str] = set()
        wait_s = IDLE_POLL_S
        for message in candidates:
            key = _peer_key(message)
            if key in held:
                continue
            oldest_waiting = waiting.get(key)
            if oldest_waiting is not None and oldest_waiting < message.created_at:
                held.add(key)
                continue
            ready_in = self._pacer.recipient_ready_in(key, mono)
            if ready_in > 0:
                held.add(key)  # later messages of this conversation wait behind this one
                wait_s = min(wait_s, ready_in)
                continue
            chosen.append(message)
            if self._pacer.per_recipient_interval_s > 0:
                held.add(key)
            if len(chosen) >= self._batch_size:
                break
        return chosen, wait_s

    async def _next_due_in(self, session: AsyncSession, now: datetime) -> float:
        nxt = await session.scalar(
            select(col(Message.next_attempt_at))
            .where(
                and_(
                    col(Message.instance) == self.instance,
                    col(Message.status).in_(("queued", "sending")),
                )
            )
            .order_by(col(Message.next_attempt_at))
            .limit(1)
        )
        if nxt is None:
            return IDLE_POLL_S
        return max(0.0, (nxt - now).total_seconds())

    # --- sending ---

    async def _send_one(self, message: Message) -> Outcome:
        try:
            outgoing = await self._build(message)
        except RecipientError as exc:
            return Outcome("failed", error_code=exc.code, detail=str(exc))
        key = _peer_key(message)
        slot = self._pacer.slot_in(self._monotonic())
        if slot > 0:
            await self._sleep(slot)
        self._pacer.record(key, self._monotonic())
        now = self._clock()
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                sent = await self._backend.send(outgoing)
        except AlreadySent as exc:
            sent = SentMessage(message_id=exc.message_id or 0, date=now)
        except FloodWait as exc:
            return Outcome("release", error_code="flood_wait", detail=str(exc.seconds))
        except PeerFlood as exc:
            return Outcome("release", error_code="peer_flood", detail=str(exc))
        except SessionRevoked as exc:
            return Outcome("release", error_code="revoked", detail=str(exc))
        except NotLoggedIn as exc:
            return Outcome("release", error_code="logged_out", detail=str(exc))
        except RecipientError as exc:
            return Outcome("failed", error_code=exc.code, detail=str(exc))
        except MessageRejected as exc:
            return Outcome("failed", error_code=exc.code, detail=str(exc))
        except (TransientError, TimeoutError, OSError) as exc:
            delay = retry_delay_s(message.attempts)
            return Outcome("retry", detail=repr(exc), retry_at=now + timedelta(seconds=delay))
        except Exception as exc:  # a bug or an unmapped error must not lose the message
            log.exception("send worker %s: unexpected error sending %s", self.instance, message.id)
            delay = retry_delay_s(message.attempts)
            return Outcome("retry", detail=repr(exc), retry_at=now + timedelta(seconds=delay))
        return Outcome("sent", sent=sent)

    async def _build(self, message: Message) -> OutgoingMessage:
        async with self._factory() as session:
            peer = await self._peer(session, message)
            media = None
            if message.media_id is not None:
                blob = await session.get(MediaBlob, message.media_id)
                if blob is None:
                    raise RecipientError("the message's media is missing")
                kind: MediaKind = message.kind  # type: ignore[assignment]
                media = OutgoingMedia(
                    kind=kind,
                    data=blob.data,
                    filename=message.filename or "file",
                    mime_type=blob.mime_type,
                )
            reply_to_id = message.reply_to_telegram_id
            if reply_to_id is None and message.reply_to:
                reply_to_id = await _telegram_id_of(session, message.instance, message.reply_to)
        return OutgoingMessage(
            peer=peer,
            random_id=message.random_id,
            text=message.text if message.kind == "text" else None,
            media=media,
            caption=message.caption,
            reply_to_message_id=reply_to_id,
        )

    async def _peer(self, session: AsyncSession, message: Message) -> Peer:
        if message.group_name is not None:
            return await self._backend.resolve_group(message.group_name, message.group_admin or "")
        if message.recipient_user_id is not None:  # the gateway's own replies
            return UserPeer(message.recipient_user_id, message.recipient_access_hash)
        recipient = await session.scalar(
            select(Recipient)
            .where(
                and_(
                    col(Recipient.instance) == message.instance,
                    col(Recipient.number) == message.to_number,
                    col(Recipient.status) == "registered",
                )
            )
            .limit(1)
        )
        if recipient is None:
            error = RecipientError(f"{message.to_number} unregistered before the message was sent")
            error.code = "recipient_unregistered"
            raise error
        return UserPeer(recipient.user_id, recipient.access_hash)

    # --- recording ---

    async def _apply(
        self, session: AsyncSession, message: Message, outcome: Outcome, rest: list[Message]
    ) -> None:
        """Record one outcome in the batch's transaction."""
        now = self._clock()
        row = await session.get(Message, message.id)
        if row is None:
            return
        inst = await session.get(Instance, self.instance)
        if outcome.kind == "sent" and outcome.sent is not None:
            row.status = "sent"
            row.telegram_message_id = outcome.sent.message_id or None
            row.sent_at = outcome.sent.date
            row.last_error = None
            if row.origin == "api":
                await append_event(
                    session,
                    "message.sent",
                    now=now,
                    instance=row.instance,
                    number=row.to_number,
                    gateway_number=inst.phone if inst else None,
                    data=message_event_data(row),
                )
        elif outcome.kind == "failed":
            await fail_message(session, row, outcome.error_code or "failed", outcome.detail, now)
        elif outcome.kind == "retry":
            row.status = "queued"
            row.next_attempt_at = outcome.retry_at or now
            row.last_error = (outcome.detail or "")[:1000]
        else:
            await self._pause(session, inst, outcome, now)
            resume_at = inst.paused_until if inst and inst.paused_until else now
            ids = [row.id] + [m.id for m in rest]
            await session.execute(
                update(Message)
                .where(col(Message.id).in_(ids))
                .values(status="queued", next_attempt_at=resume_at)
            )
            row.last_error = f"{outcome.error_code}: {outcome.detail}"[:1000]

    async def _pause(
        self, session: AsyncSession, inst: Instance | None, outcome: Outcome, now: datetime
    ) -> None:
        if inst is None:
            return
        if outcome.error_code == "flood_wait":
            seconds = int(outcome.detail or "0")
            inst.paused_until = now + timedelta(seconds=seconds)
            await set_instance_status(
                session, inst, "flood_wait", f"FloodWait of {seconds} s", now, wait_s=seconds
            )
        elif outcome.error_code == "peer_flood":
            inst.paused_until = now + PEER_FLOOD_PAUSE
            await set_instance_status(
                session,
                inst,
                "flood_wait",
                "PEER_FLOOD: Telegram limits this account for messaging people; check @SpamBot",
                now,
                wait_s=int(PEER_FLOOD_PAUSE.total_seconds()),
            )
        elif outcome.error_code == "revoked":
            await set_instance_status(session, inst, "revoked", outcome.detail, now)
        else:
            await set_instance_status(session, inst, "logged_out", outcome.detail, now)

    async def _expire_stale(self, now: datetime) -> None:
        """Messages queued longer than message_ttl_s fail as `expired` (also while paused)."""
        cutoff = now - self._ttl
        async with transaction(self._factory) as session:
            stale = list(
                await session.scalars(
                    select(Message)
                    .where(
                        and_(
                            col(Message.instance) == self.instance,
                            col(Message.status).in_(("queued", "sending")),
                            col(Message.created_at) <= cutoff,
                        )
                    )
                    .limit(500)
                )
            )
            for row in stale:
                await fail_message(
                    session,
                    row,
                    "expired",
                    f"not sent within message_ttl_s ({int(self._ttl.total_seconds())} s)",
                    now,
                )


def _conversation(
    to_number: str | None, user_id: int | None, group_name: str | None, group_admin: str | None
) -> str:
    """The key of the chat a message goes to: order and pacing are kept per key."""
    if group_name is not None:
        return f"g:{group_name}:{group_admin}"
    if user_id is not None:
        return f"u:{user_id}"
    return f"n:{to_number}"


def _peer_key(message: Message) -> str:
    return _conversation(
        message.to_number, message.recipient_user_id, message.group_name, message.group_admin
    )


async def _telegram_id_of(session: AsyncSession, instance: int, message_id: str) -> int | None:
    sent = await session.get(Message, message_id)
    if sent is not None and sent.instance == instance:
        return sent.telegram_message_id
    received = await session.get(InboundMessage, message_id)
    if received is not None and received.instance == instance:
        return received.telegram_message_id
    return None


def message_event_data(row: Message) -> dict[str, Any]:
    return {
        "id": row.id,
        "instance": row.instance,
        "to": row.to_number,
        "group_name": row.group_name,
        "kind": row.kind,
        "status": row.status,
        "error_code": row.error_code,
        "telegram_message_id": row.telegram_message_id,
        "client_id": row.client_id,
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "failed_at": row.failed_at.isoformat() if row.failed_at else None,
    }


async def fail_message(
    session: AsyncSession, row: Message, code: str, detail: str | None, now: datetime
) -> None:
    row.status = "failed"
    row.error_code = code
    row.error_detail = (detail or "")[:1000] or None
    row.failed_at = now
    if row.origin == "api":
        inst = await session.get(Instance, row.instance)
        await append_event(
            session,
            "message.failed",
            now=now,
            instance=row.instance,
            number=row.to_number,
            gateway_number=inst.phone if inst else None,
            data=message_event_data(row),
        )
