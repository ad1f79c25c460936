"""The send worker: one per instance, drains the queue table towards Telegram.

Exactly once towards Telegram: every message carries the random_id chosen when it was accepted.
A message is claimed (status `sending`, a short lease in `next_attempt_at`) and committed before
the call; if the process dies mid-send, the claim is picked up again (`recover`, or the lease
running out) and sent with the same random_id, which Telegram answers with RANDOM_ID_DUPLICATE
(AlreadySent) instead of a second copy.

A round claims a batch in one transaction, sends it, and records every outcome in one more, with
SQLAlchemy Core on the SqlRunner: the queue is drained at hundreds of messages a second on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import OutageLog, SessionFactory, SqlRunner, retry_while_unavailable, transaction
from app.errors import DatabaseUnavailable
from app.events import append_event, append_events, conversation_key, event_row
from app.instances import set_instance_status
from app.lease import InstanceLease, LeaseLost
from app.models import (
    InboundMessage,
    Instance,
    MediaBlob,
    Message,
    Recipient,
    UTCDateTime,
    table_of,
)
from app.queueing import Wakeup
from app.settings import Settings
from app.telegram.port import (
    AccountFrozen,
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
from app.timestamps import iso_or_none
from app.vocabulary import NEEDS_LOGIN
from outbound.pacing import Pacer, retry_delay_s

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=10)
SEND_TIMEOUT_S = 60.0
PEER_FLOOD_PAUSE = timedelta(hours=1)
IDLE_POLL_S = 1.0
FROZEN_PAUSE = timedelta(hours=6)
HELD_STATUSES = (*NEEDS_LOGIN, "awaiting_code", "awaiting_password", "awaiting_qr")


M = table_of(Message)
R = table_of(Recipient)
B = table_of(MediaBlob)
I = table_of(InboundMessage)  # noqa: E741

_CLAIM_COLUMNS = (
    M.c.id,
    M.c.instance,
    M.c.origin,
    M.c.client_id,
    M.c.to_number,
    M.c.recipient_user_id,
    M.c.recipient_access_hash,
    M.c.group_name,
    M.c.group_admin,
    M.c.kind,
    M.c.text,
    M.c.caption,
    M.c.filename,
    M.c.media_id,
    M.c.media_size,
    M.c.media_sha256,
    M.c.reply_to,
    M.c.reply_to_telegram_id,
    M.c.random_id,
    M.c.attempts,
    M.c.created_at,
)


@dataclass
class Claimed:
    """A claimed message with what sending it needs (peer, media bytes, reply target)."""

    row: Row[Any]
    peer: UserPeer | None = None
    problem: RecipientError | None = None
    media: OutgoingMedia | None = None
    reply_to_message_id: int | None = None

    @property
    def id(self) -> str:
        message_id: str = self.row.id
        return message_id

    @property
    def attempts(self) -> int:
        return int(self.row.attempts) + 1  # counting the claim


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
        sql: SqlRunner,
        settings: Settings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        *,
        paced: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        batch_size: int = 64,
        fence: InstanceLease | None = None,
    ) -> None:
        self.instance = instance
        # The instance's lease: a claim is only made while this process holds it.
        self._fence = fence
        self._backend = backend
        self._factory = factory
        self._sql = sql
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
        self._gateway_number: str | None = None
        self._outage = OutageLog(log, f"send worker {instance}")

    @property
    def topic(self) -> str:
        return f"send:{self.instance}"

    async def run(self) -> None:
        """Steps until cancelled. A database outage does not end it: it waits for the database
        (started during one, or hit by one), then makes the sends it had claimed due again."""
        await retry_while_unavailable(self.recover, self._outage, IDLE_POLL_S)
        while True:
            try:
                if self._outage.down_since is not None:
                    # Claims whose outcome could not be recorded go again now rather than when
                    # their lease ends (their random_id keeps them from being sent twice).
                    await self.recover()
                wait_s = await self.step()
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                wait_s = IDLE_POLL_S  # the session is being given up: this worker is stopped soon
            except DatabaseUnavailable as exc:
                self._outage.failed(exc)
                wait_s = IDLE_POLL_S
            except Exception:
                log.exception("send worker %s: step failed", self.instance)
                wait_s = IDLE_POLL_S
            else:
                self._outage.ok()
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
        held_for = await self._instance_gate(now)
        if held_for is not None:
            return held_for
        batch, wait_s = await self._sql.run(partial(self._claim, now=now))
        if not batch:
            return wait_s
        results: list[tuple[Claimed, Outcome]] = []
        for message in batch:
            outcome = await self._send_one(message)
            results.append((message, outcome))
            if outcome.kind == "release":
                break  # the instance pauses: the rest of the batch goes back to the queue
        # One transaction records the batch. Should the process die before it commits, the
        # claims are picked up again and sent with their random_ids: AlreadySent, no copy.
        done = [(m, o) for m, o in results if o.kind != "release"]
        await self._sql.run(partial(self._record, results=done, now=self._clock()))
        if len(done) < len(results):
            await self._release(results[-1][1], [m.id for m in batch[len(done) :]])
        return 0.0

    async def _instance_gate(self, now: datetime) -> float | None:
        """None when the instance may send; else how long to wait. Ends a pause that is over."""
        async with self._factory() as session:
            inst = await session.get(Instance, self.instance)
            if inst is None:
                return IDLE_POLL_S
            self._gateway_number = inst.phone
            if inst.status in HELD_STATUSES:
                return IDLE_POLL_S  # the queue holds its messages until a login or their TTL
            if inst.paused_until is None:
                return None
            if inst.paused_until > now:
                return (inst.paused_until - now).total_seconds()
        async with transaction(self._factory) as session:
            inst = await session.get(Instance, self.instance)
            if inst is not None and inst.paused_until is not None and inst.paused_until <= now:
                inst.paused_until = None
                await set_instance_status(session, inst, "ready", None, now)
        return None

    # --- claiming (runs on the SqlRunner) ---

    def _claim(self, conn: Connection, now: datetime) -> tuple[list[Claimed], float]:
        if self._fence is not None:
            self._fence.guard_sync(conn)
        # `sending` rows whose lease ran out were claimed by a process that died mid-send.
        query = (
            select(*_CLAIM_COLUMNS)
            .where(
                M.c.instance == self.instance,
                M.c.status.in_(("queued", "sending")),
                M.c.next_attempt_at <= now,
            )
            .order_by(M.c.created_at)
            .limit(self._batch_size * 4)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        candidates = list(conn.execute(query))
        if not candidates:
            return [], self._next_due_in(conn, now)
        chosen, wait_s = self._plan(candidates, self._waiting_conversations(conn, now))
        if not chosen:
            return [], wait_s
        conn.execute(
            update(M)
            .where(M.c.id.in_([r.id for r in chosen]))
            .values(status="sending", attempts=M.c.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        )
        return self._prepare(conn, chosen), 0.0

    def _waiting_conversations(self, conn: Connection, now: datetime) -> dict[str, datetime]:
        """Conversations with a message waiting for a retry: peer key -> its oldest created_at."""
        rows = conn.execute(
            select(
                M.c.to_number,
                M.c.recipient_user_id,
                M.c.group_name,
                M.c.group_admin,
                func.min(M.c.created_at),
            )
            .where(
                M.c.instance == self.instance,
                M.c.status.in_(("queued", "sending")),
                M.c.next_attempt_at > now,
            )
            .group_by(M.c.to_number, M.c.recipient_user_id, M.c.group_name, M.c.group_admin)
        )
        waiting: dict[str, datetime] = {}
        for to_number, user_id, group_name, group_admin, oldest in rows:
            oldest = UTCDateTime().process_result_value(oldest, conn.dialect) or now
            waiting[_conversation(to_number, user_id, group_name, group_admin)] = oldest
        return waiting

    def _plan(
        self, candidates: Sequence[Any], waiting: dict[str, datetime] | None = None
    ) -> tuple[list[Any], float]:
        """Pick what may go now, keeping each conversation's order (pure, in memory).

        A message waiting for its retry holds the later messages of its conversation.
        """
        waiting = waiting or {}
        mono = self._monotonic()
        chosen: list[Any] = []
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

    def _next_due_in(self, conn: Connection, now: datetime) -> float:
        nxt = conn.execute(
            select(func.min(M.c.next_attempt_at)).where(
                M.c.instance == self.instance, M.c.status.in_(("queued", "sending"))
            )
        ).scalar()
        if nxt is None:
            return IDLE_POLL_S
        nxt = UTCDateTime().process_result_value(nxt, conn.dialect)
        assert nxt is not None
        return max(0.0, (nxt - now).total_seconds())

    def _prepare(self, conn: Connection, rows: list[Row[Any]]) -> list[Claimed]:
        """Look up, for the whole batch at once, the peers, media bytes and reply targets."""
        numbers = {
            r.to_number for r in rows if r.group_name is None and r.recipient_user_id is None
        }
        peers: dict[str, tuple[int, int | None]] = {}
        if numbers:
            for number, user_id, access_hash in conn.execute(
                select(R.c.number, R.c.user_id, R.c.access_hash).where(
                    R.c.instance == self.instance,
                    R.c.status == "registered",
                    R.c.number.in_(numbers),
                )
            ):
                peers[number] = (user_id, access_hash)
        media_ids = [r.media_id for r in rows if r.media_id is not None]
        blobs: dict[str, tuple[bytes, str]] = {}
        if media_ids:
            for blob_id, data, mime in conn.execute(
                select(B.c.id, B.c.data, B.c.mime_type).where(B.c.id.in_(media_ids))
            ):
                blobs[blob_id] = (data, mime)
        replies = self._reply_targets(conn, [r.reply_to for r in rows if r.reply_to])
        claimed = []
        for row in rows:
            item = Claimed(row)
            if row.group_name is not None:
                pass  # resolved through the backend when sent
            elif row.recipient_user_id is not None:  # the gateway's own replies
                item.peer = UserPeer(row.recipient_user_id, row.recipient_access_hash)
            elif row.to_number in peers:
                item.peer = UserPeer(*peers[row.to_number])
            else:
                item.problem = RecipientError(
                    f"{row.to_number} unregistered before the message was sent"
                )
                item.problem.code = "recipient_unregistered"
            if row.media_id is not None:
                if row.media_id not in blobs:
                    item.problem = RecipientError("the message's media is missing")
                else:
                    data, mime = blobs[row.media_id]
                    kind: MediaKind = row.kind
                    item.media = OutgoingMedia(kind, data, row.filename or "file", mime)
            item.reply_to_message_id = row.reply_to_telegram_id or replies.get(row.reply_to)
            claimed.append(item)
        return claimed

    def _reply_targets(self, conn: Connection, ids: list[str]) -> dict[str, int]:
        """Our message ids (sent or received) -> their Telegram message ids."""
        if not ids:
            return {}
        targets: dict[str, int] = {}
        for table in (M, I):
            for message_id, telegram_id in conn.execute(
                select(table.c.id, table.c.telegram_message_id).where(
                    table.c.id.in_(ids), table.c.instance == self.instance
                )
            ):
                if telegram_id is not None:
                    targets[message_id] = telegram_id
        return targets

    # --- sending ---

    async def _send_one(self, message: Claimed) -> Outcome:
        if message.problem is not None:
            return Outcome("failed", error_code=message.problem.code, detail=str(message.problem))
        row = message.row
        key = _peer_key(row)
        slot = self._pacer.slot_in(self._monotonic())
        if slot > 0:
            await self._sleep(slot)
        self._pacer.record(key, self._monotonic())
        now = self._clock()
        try:
            peer: Peer
            if row.group_name is not None:
                peer = await self._backend.resolve_group(row.group_name, row.group_admin or "")
            else:
                assert message.peer is not None
                peer = message.peer
            outgoing = OutgoingMessage(
                peer=peer,
                random_id=row.random_id,
                text=row.text if row.kind == "text" else None,
                media=message.media,
                caption=row.caption,
                reply_to_message_id=message.reply_to_message_id,
            )
            async with asyncio.timeout(SEND_TIMEOUT_S):
                sent = await self._backend.send(outgoing)
        except DatabaseUnavailable:
            # The backend's own storage (the sandbox) is down: so is ours. Nothing is recorded;
            # the claim goes again once the database is back.
            raise
        except AlreadySent as exc:
            sent = SentMessage(message_id=exc.message_id or 0, date=now)
        except FloodWait as exc:
            return Outcome("release", error_code="flood_wait", detail=str(exc.seconds))
        except PeerFlood as exc:
            return Outcome("release", error_code="peer_flood", detail=str(exc))
        except AccountFrozen as exc:
            return Outcome("release", error_code="frozen", detail=str(exc))
        except SessionRevoked as exc:  # revoked, or the account banned or deleted
            return Outcome("release", error_code=exc.status, detail=str(exc))
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
            log.exception("send worker %s: unexpected error sending %s", self.instance, row.id)
            delay = retry_delay_s(message.attempts)
            return Outcome("retry", detail=repr(exc), retry_at=now + timedelta(seconds=delay))
        return Outcome("sent", sent=sent)

    # --- recording (runs on the SqlRunner) ---

    def _record(
        self, conn: Connection, results: list[tuple[Claimed, Outcome]], now: datetime
    ) -> None:
        sent: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        retried: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for message, outcome in results:
            row = message.row
            if outcome.kind == "sent" and outcome.sent is not None:
                telegram_id = outcome.sent.message_id or None
                sent.append({"b_id": row.id, "b_tg": telegram_id, "b_at": outcome.sent.date})
                state = {
                    "status": "sent",
                    "telegram_message_id": telegram_id,
                    "sent_at": outcome.sent.date,
                }
                self._event(events, "message.sent", row, state, now)
            elif outcome.kind == "failed":
                code = outcome.error_code or "failed"
                detail = (outcome.detail or "")[:1000] or None
                failed.append({"b_id": row.id, "b_code": code, "b_detail": detail, "b_at": now})
                state = {"status": "failed", "error_code": code, "failed_at": now}
                self._event(events, "message.failed", row, state, now)
            elif outcome.kind == "retry":
                retried.append(
                    {
                        "b_id": row.id,
                        "b_at": outcome.retry_at or now,
                        "b_error": (outcome.detail or "")[:1000],
                    }
                )
        at = bindparam("b_at", type_=UTCDateTime())
        if sent:
            conn.execute(
                update(M)
                .where(M.c.id == bindparam("b_id"))
                .values(
                    status="sent",
                    telegram_message_id=bindparam("b_tg"),
                    sent_at=at,
                    last_error=None,
                ),
                sent,
            )
        if failed:
            conn.execute(
                update(M)
                .where(M.c.id == bindparam("b_id"))
                .values(
                    status="failed",
                    error_code=bindparam("b_code"),
                    error_detail=bindparam("b_detail"),
                    failed_at=at,
                ),
                failed,
            )
        if retried:
            conn.execute(
                update(M)
                .where(M.c.id == bindparam("b_id"))
                .values(status="queued", next_attempt_at=at, last_error=bindparam("b_error")),
                retried,
            )
        append_events(conn, events)

    def _event(
        self,
        events: list[dict[str, Any]],
        type_: str,
        row: Row[Any],
        state: dict[str, Any],
        now: datetime,
    ) -> None:
        if row.origin != "api":
            return  # the gateway's own registration replies are not the organisation's events
        events.append(
            event_row(
                type_,
                now=now,
                instance=self.instance,
                number=row.to_number,
                gateway_number=self._gateway_number,
                data=message_event_data(dict(row._mapping), state),
                conversation=conversation_key(self.instance, row.to_number, row.group_name),
            )
        )

    async def _release(self, outcome: Outcome, ids: list[str]) -> None:
        """The instance cannot send for now: pause it and put the batch's rest back in line."""
        now = self._clock()
        async with transaction(self._factory) as session:
            inst = await session.get(Instance, self.instance)
            await self._pause(session, inst, outcome, now)
            resume_at = inst.paused_until if inst and inst.paused_until else now
            await session.execute(
                update(Message)
                .where(col(Message.id).in_(ids))
                .values(
                    status="queued",
                    next_attempt_at=resume_at,
                    last_error=f"{outcome.error_code}: {outcome.detail}"[:1000],
                )
            )

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
                "restricted",
                "PEER_FLOOD: Telegram limits this account for messaging people; check @SpamBot."
                f" Sending pauses for {PEER_FLOOD_PAUSE.total_seconds() / 3600:.0f} h",
                now,
                wait_s=int(PEER_FLOOD_PAUSE.total_seconds()),
            )
        elif outcome.error_code == "frozen":
            inst.paused_until = now + FROZEN_PAUSE
            await set_instance_status(
                session,
                inst,
                "frozen",
                f"{outcome.detail}. Sending pauses for"
                f" {FROZEN_PAUSE.total_seconds() / 3600:.0f} h, then tries again",
                now,
                wait_s=int(FROZEN_PAUSE.total_seconds()),
            )
        elif outcome.error_code in ("revoked", "banned", "deactivated"):
            await set_instance_status(session, inst, outcome.error_code, outcome.detail, now)
        else:
            await set_instance_status(session, inst, "logged_out", outcome.detail, now)

    async def _expire_stale(self, now: datetime) -> None:
        """Messages queued longer than message_ttl_s fail as `expired` (also while paused)."""
        cutoff = now - self._ttl
        stale_query = (
            select(Message)
            .where(
                col(Message.instance) == self.instance,
                col(Message.status).in_(("queued", "sending")),
                col(Message.created_at) <= cutoff,
            )
            .limit(500)
        )
        async with self._factory() as session:
            if await session.scalar(stale_query.with_only_columns(col(Message.id))) is None:
                return
        async with transaction(self._factory) as session:
            for row in await session.scalars(stale_query):
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


def _peer_key(message: Any) -> str:
    return _conversation(
        message.to_number, message.recipient_user_id, message.group_name, message.group_admin
    )


def message_event_data(row: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` of message.sent / message.failed: the message as the API shows it."""
    m = {**row, **state}
    return {
        "id": m["id"],
        "instance": m["instance"],
        "to": m["to_number"],
        "group_name": m["group_name"],
        "kind": m["kind"],
        "status": m.get("status"),
        "error_code": m.get("error_code"),
        "telegram_message_id": m.get("telegram_message_id"),
        "client_id": m["client_id"],
        "created_at": iso_or_none(m["created_at"]),
        "sent_at": iso_or_none(m.get("sent_at")),
        "failed_at": iso_or_none(m.get("failed_at")),
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
            conversation=conversation_key(row.instance, row.to_number, row.group_name),
            data=message_event_data(
                row.model_dump(), {"status": "failed", "error_code": code, "failed_at": now}
            ),
        )
