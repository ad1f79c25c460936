"""The send worker: one per instance, drains the queue table towards Telegram.

Exactly once towards Telegram: every message carries the random_id chosen when it was accepted.
A message is claimed (status `sending`, a short lease in `next_attempt_at`) and committed before
the call; if the process dies mid-send, the claim is picked up again (`recover`, or the lease
running out) and sent with the same random_id, which Telegram answers with RANDOM_ID_DUPLICATE
(AlreadySent) instead of a second copy.

A round claims a batch in one transaction (`outbound/claims.py`), sends it, and records every
outcome (`outbound/outcomes.py`) in one more (`outbound/records.py`), with SQLAlchemy Core on
the SqlRunner: the queue is drained at hundreds of messages a second on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlmodel import col

from app.db import Database, OutageLog, retry_while_unavailable
from app.errors import DatabaseUnavailable
from app.instances import set_instance_status
from app.lease import InstanceLease, LeaseLost
from app.models import Instance, Message, table_of
from app.queueing import Wakeup
from app.settings import SendingSettings
from app.telegram.port import GroupPeer, OutgoingMessage, Peer, TelegramBackend
from app.telegram.uploads import upload_allowance_s
from app.vocabulary import NEEDS_LOGIN, InstanceStatus, MessageStatus
from outbound.action_records import perform
from outbound.actions import is_action
from outbound.claims import IDLE_POLL_S, Claimed, Claimer, peer_key
from outbound.outcomes import (
    KNOWN_ERRORS,
    Failed,
    Outcome,
    Pause,
    Recorded,
    Retry,
    classify,
    sent,
)
from outbound.pacing import Pacer
from outbound.records import expire_stale, record_batch

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 60.0
# The queue is searched for expired messages at most this often (by the worker's clock): the
# search is two index probes, but a busy worker steps after every accepted batch, and a
# message's expiry is a matter of seconds anyway.
EXPIRY_CHECK_S = 1.0


class _Gate(Enum):
    # The instance's pause (flood wait, restriction) has ended: it is made ready, then claims.
    PAUSE_OVER = "pause over"


_I = table_of(Instance)
_GATE = select(_I.c.phone, _I.c.status, _I.c.queue_paused_at, _I.c.paused_until).where(
    _I.c.number == bindparam("number")
)
# The queue holds its messages in these statuses, until a login or their TTL.
HELD_STATUSES = (
    *NEEDS_LOGIN,
    InstanceStatus.AWAITING_CODE,
    InstanceStatus.AWAITING_PASSWORD,
    InstanceStatus.AWAITING_QR,
)


class SendWorker:
    def __init__(
        self,
        instance: int,
        backend: TelegramBackend,
        database: Database,
        sending: SendingSettings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        *,
        paced: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        batch_size: int = 64,
        fence: InstanceLease | None = None,
        mark_read_on_reply: bool = False,
    ) -> None:
        self.instance = instance
        self._backend = backend
        # Claims and outcomes commit without waiting for the disk (Database.run's default): were
        # one lost to a power cut, the message would go again with its random_id.
        self._db = database
        self._wakeup = wakeup
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._pacer = (
            Pacer(sending.per_second, sending.per_recipient_interval_s) if paced else Pacer(0, 0)
        )
        if self._pacer.enabled:
            batch_size = max(1, min(batch_size, 8))
        self.claims = Claimer(
            instance,
            self._pacer,
            batch_size,
            monotonic,
            fence,
            mark_read_on_reply=mark_read_on_reply,
        )
        # mark_read_on_reply: user id -> the message id marked read last (not marked again).
        self._marked_read: dict[int, int] = {}
        self._ttl = timedelta(seconds=sending.message_ttl_s)
        self._expiry_checked_at: datetime | None = None
        self._gateway_number: str | None = None
        self._outage = OutageLog(log, f"send worker {instance}")
        # An orderly stop (stop()): no new step once the one under way ends.
        self._stopping = False
        self._in_step = False

    @property
    def topic(self) -> str:
        return f"send:{self.instance}"

    async def run(self) -> None:
        """Steps until cancelled. A database outage does not end it: it waits for the database
        (started during one, or hit by one), then makes the sends it had claimed due again."""
        await retry_while_unavailable(self.recover, self._outage, IDLE_POLL_S)
        while not self._stopping:
            try:
                if self._outage.down_since is not None:
                    # Claims whose outcome could not be recorded go again now rather than when
                    # their lease ends (their random_id keeps them from being sent twice).
                    await self.recover()
                self._in_step = True
                try:
                    wait_s = await self.step()
                finally:
                    self._in_step = False
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
            if wait_s > 0 and not self._stopping:
                await self._wakeup.wait(self.topic, min(wait_s, self._wakeup.poll_cap(IDLE_POLL_S)))

    async def stop(self, task: asyncio.Task[None], grace_s: float) -> None:
        """End `task` (this worker's run) after the step under way, waiting for it at most
        `grace_s`: an orderly handover records what was sent rather than leaving it claimed.
        The caller cancels the task afterwards (harmless once it ended, or while it waits)."""
        self._stopping = True
        if self._in_step and not task.done():
            await asyncio.wait({task}, timeout=grace_s)  # never raises: the task's end is its own

    async def recover(self) -> int:
        """Make this instance's `sending` rows due now: the process that claimed them is gone.

        Waiting out their lease would let later messages to the same person overtake them. Were
        another process still sending one, its random_id makes Telegram refuse the second copy
        (AlreadySent), so this never sends twice.
        """
        now = self._clock()
        async with self._db.write() as session:
            result = await session.execute(
                update(Message)
                .where(
                    col(Message.instance) == self.instance,
                    col(Message.status) == MessageStatus.SENDING,
                )
                .values(next_attempt_at=now)
            )
        count: int = result.rowcount  # type: ignore[attr-defined]
        if count:
            log.info("send worker %s: %d interrupted sends are due again", self.instance, count)
        return count

    async def step(self) -> float:
        """Do one round of work; return how long to wait before the next (0: go on)."""
        now = self._clock()
        await self._expire(now)
        gate, batch, wait_s = await self._db.run(partial(self._gate_and_claim, now=now))
        if gate is _Gate.PAUSE_OVER:
            await self._end_pause(now)
            batch, wait_s = await self._db.run(partial(self.claims.claim, now=now))
        elif gate is not None:
            return gate
        if not batch:
            return wait_s
        if not await self._send_batch(batch) or wait_s <= 0:
            return 0.0
        # The claim took every message that was due, and each has its outcome: nothing more is
        # due before `wait_s` after the claim (a message accepted meanwhile wakes the worker).
        # No claim that would find nothing: at a low rate that was every other one.
        return max(0.0, wait_s - (self._clock() - now).total_seconds())

    async def _send_batch(self, batch: list[Claimed]) -> bool:
        """Send a claimed batch and record the outcomes. False when some message is not done
        with: a retry is due later, or the instance paused (the rest went back to the queue)."""
        done: list[tuple[Claimed, Recorded]] = []
        pause: Pause | None = None
        for message in batch:
            outcome = await self._send_one(message)
            if isinstance(outcome, Pause):
                pause = outcome
                break  # the instance pauses: the rest of the batch goes back to the queue
            done.append((message, outcome))
        # One transaction records the batch. Should the process die before it commits, the
        # claims are picked up again and sent with their random_ids: AlreadySent, no copy.
        await self._db.run(
            partial(
                record_batch,
                results=done,
                now=self._clock(),
                instance=self.instance,
                gateway_number=self._gateway_number,
            )
        )
        if pause is not None:
            await self._release(pause, [m.id for m in batch[len(done) :]])
            return False
        return not any(isinstance(outcome, Retry) for _, outcome in done)

    async def _expire(self, now: datetime) -> None:
        checked = self._expiry_checked_at
        if checked is not None and checked <= now < checked + timedelta(seconds=EXPIRY_CHECK_S):
            return
        await expire_stale(self._db, self.instance, self._ttl, now)
        self._expiry_checked_at = now

    def _gate_and_claim(
        self, conn: Connection, now: datetime
    ) -> tuple[float | _Gate | None, list[Claimed], float]:
        """The instance's gate and, if it may send, a claimed batch: one transaction on the
        SqlRunner (the worker steps after every accepted batch: no ORM, no second trip).
        The gate is None (may send), how long to wait, or PAUSE_OVER."""
        row = conn.execute(_GATE, {"number": self.instance}).first()
        gate = self._gate(row, now)
        if gate is not None:
            return gate, [], 0.0
        return None, *self.claims.claim(conn, now)

    def _gate(self, row: Any, now: datetime) -> float | _Gate | None:
        if row is None:
            return IDLE_POLL_S
        self._gateway_number = row.phone
        if row.status in HELD_STATUSES:
            return IDLE_POLL_S  # the queue holds its messages until a login or their TTL
        if row.queue_paused_at is not None:
            return IDLE_POLL_S  # paused by an admin: resuming wakes the worker
        if row.paused_until is None:
            return None
        if row.paused_until > now:
            return float((row.paused_until - now).total_seconds())
        return _Gate.PAUSE_OVER

    async def _end_pause(self, now: datetime) -> None:
        """A pause (flood wait, restriction) is over: the instance is ready again."""
        async with self._db.write() as session:
            inst = await session.get(Instance, self.instance)
            if inst is not None and inst.paused_until is not None and inst.paused_until <= now:
                inst.paused_until = None
                await set_instance_status(session, inst, InstanceStatus.READY, None, now)

    async def _send_one(self, message: Claimed) -> Outcome:
        if message.problem is not None:
            return Failed(message.problem.code, str(message.problem))
        row = message.row
        key = peer_key(row)
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
            if is_action(row.kind):  # an edit, deletion or reaction (outbound/actions.py)
                if isinstance(peer, GroupPeer):
                    message.group_id = peer.chat_id
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    return await perform(self._backend, row, peer, now)
            outgoing = OutgoingMessage(
                peer=peer,
                random_id=row.random_id,
                text=row.text if row.kind == "text" else None,
                media=message.media,
                caption=row.caption,
                reply_to_message_id=message.reply_to_message_id,
                location=message.location,
                contact=message.contact,
                silent=bool(row.silent),
                link_preview=row.link_preview is not False,
            )
            async with asyncio.timeout(SEND_TIMEOUT_S + upload_allowance_s(message.media)):
                await self._mark_read(message)
                result = await self._backend.send(outgoing)
        except DatabaseUnavailable:
            # The backend's own storage (the sandbox) is down: so is ours. Nothing is recorded;
            # the claim goes again once the database is back.
            raise
        except Exception as exc:
            if not isinstance(exc, KNOWN_ERRORS):
                log.exception("send worker %s: unexpected error sending %s", self.instance, row.id)
            return classify(exc, now, message.attempts)
        return sent(result)

    async def _mark_read(self, message: Claimed) -> None:
        """mark_read_on_reply: the person's messages are read before the answer arrives.

        Best effort: a message is not held back because its read mark could not be set (the
        send itself reports what is wrong with the session or the peer)."""
        peer, up_to = message.peer, message.read_up_to
        if peer is None or up_to is None or self._marked_read.get(peer.user_id, 0) >= up_to:
            return
        try:
            await self._backend.read_inbox(peer, up_to)
        except Exception as exc:
            log.warning("send worker %s: marking read failed: %s", self.instance, exc)
            return
        self._marked_read[peer.user_id] = up_to

    async def _release(self, pause: Pause, ids: list[str]) -> None:
        """The instance cannot send for now: pause it and put the batch's rest back in line."""
        now = self._clock()
        async with self._db.write() as session:
            inst = await session.get(Instance, self.instance)
            if inst is not None:
                if pause.pause_for is not None:
                    inst.paused_until = now + pause.pause_for
                await set_instance_status(
                    session, inst, pause.status, pause.detail, now, wait_s=pause.wait_s
                )
            resume_at = inst.paused_until if inst and inst.paused_until else now
            await session.execute(
                update(Message)
                .where(col(Message.id).in_(ids))
                .values(
                    status=MessageStatus.QUEUED,
                    next_attempt_at=resume_at,
                    last_error=pause.reason[:1000],
                )
            )
