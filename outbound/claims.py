"""Claiming a batch of the send queue: what may go now, in order, and what sending it needs.

A claim sets the row `sending` with a short lease in `next_attempt_at` and commits before the
call to Telegram; a claim whose lease ran out belongs to a process that died mid-send and is
claimed again (its random_id keeps Telegram from delivering a second copy). Everything here runs
on the SqlRunner's connection, with SQLAlchemy Core.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, literal_column, select, update
from sqlalchemy.engine import Connection

from app.lease import InstanceLease
from app.models import InboundMessage, MediaBlob, Message, Recipient, UTCDateTime, table_of
from app.telegram.port import (
    ContactCard,
    Location,
    MediaKind,
    OutgoingMedia,
    RecipientError,
    UserPeer,
)
from app.vocabulary import MessageStatus, RecipientStatus
from outbound.details import audio_of, contact_of, location_of, read_details, video_of
from outbound.pacing import Pacer

CLAIM_LEASE = timedelta(seconds=10)
IDLE_POLL_S = 1.0
# "Nothing queued": the worker waits for a wake-up, or its poll cap (`Wakeup.poll_cap`).
NOTHING_DUE_S = math.inf
# Rows still waiting to go: `sending` ones are claimed, or were by a process that died.
UNSENT = (MessageStatus.QUEUED, MessageStatus.SENDING)

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
    M.c.details,
    M.c.silent,
    M.c.link_preview,
    M.c.random_id,
    M.c.attempts,
    M.c.created_at,
    M.c.details,
    # what an action (edit, delete, reaction: outbound/actions.py) acts on
    M.c.target_id,
    M.c.target_telegram_id,
)


# The statements of a claim, built once: a worker claims after every accepted batch, and
# building a statement (and its cache key) costs SQLAlchemy more than SQLite takes to run it.
# The statuses are written into the SQL as constants (no expanding parameter to render at each
# execution); `:instance` and `:now` are bound when it runs.
_UNSENT_ROWS = (
    M.c.instance == bindparam("instance"),
    M.c.status.in_([literal_column(f"'{status.value}'") for status in UNSENT]),
)
_CANDIDATES = (
    select(*_CLAIM_COLUMNS)
    .where(*_UNSENT_ROWS, M.c.next_attempt_at <= bindparam("now", type_=UTCDateTime()))
    .order_by(M.c.created_at)
)
_WAITING = (
    select(
        M.c.to_number,
        M.c.recipient_user_id,
        M.c.group_name,
        M.c.group_admin,
        func.min(M.c.created_at),
    )
    .where(*_UNSENT_ROWS, M.c.next_attempt_at > bindparam("now", type_=UTCDateTime()))
    .group_by(M.c.to_number, M.c.recipient_user_id, M.c.group_name, M.c.group_admin)
)
_NEXT_DUE = select(func.min(M.c.next_attempt_at)).where(*_UNSENT_ROWS)
_TAKE = (
    update(M)
    .where(M.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=MessageStatus.SENDING,
        attempts=M.c.attempts + 1,
        next_attempt_at=bindparam("lease", type_=UTCDateTime()),
    )
)
_PEERS = select(R.c.number, R.c.user_id, R.c.access_hash).where(
    R.c.instance == bindparam("instance"),
    R.c.status == RecipientStatus.REGISTERED,
    R.c.number.in_(bindparam("numbers", expanding=True)),
)


@dataclass
class Claimed:
    """A claimed message with what sending it needs (peer, media bytes, reply target)."""

    row: Row[Any]
    peer: UserPeer | None = None
    problem: RecipientError | None = None
    media: OutgoingMedia | None = None
    reply_to_message_id: int | None = None
    # The group an action was made in, once the worker resolved it (its event names it).
    group_id: int | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    # mark_read_on_reply: the person's latest message to the account, marked read first.
    read_up_to: int | None = None

    @property
    def id(self) -> str:
        message_id: str = self.row.id
        return message_id

    @property
    def attempts(self) -> int:
        return int(self.row.attempts) + 1  # counting the claim


class Claimer:
    """Claims one instance's due messages, keeping each conversation's order and pace."""

    def __init__(
        self,
        instance: int,
        pacer: Pacer,
        batch_size: int,
        monotonic: Callable[[], float],
        fence: InstanceLease | None = None,
        *,
        mark_read_on_reply: bool = False,
    ) -> None:
        self.instance = instance
        self._mark_read_on_reply = mark_read_on_reply
        self._pacer = pacer
        self._batch_size = batch_size
        self._monotonic = monotonic
        # The instance's lease: a claim is only made while this process holds it.
        self._fence = fence
        self._limit = batch_size * 4
        self._candidates = _CANDIDATES.limit(self._limit)
        # On PostgreSQL the candidates are locked (`with_for_update`) as they are read.
        self._locked_candidates = self._candidates.with_for_update(skip_locked=True)

    def claim(self, conn: Connection, now: datetime) -> tuple[list[Claimed], float]:
        """A batch to send now, or none and how long until something is due.

        With a batch, the time is how long until more is due once the batch is sent: 0 when
        more may be due now (the batch did not take every due message), else until the first
        message not in the batch is due (a retry), or the batch's own claims run out.
        """
        if self._fence is not None:
            self._fence.guard_sync(conn)
        # `sending` rows whose lease ran out were claimed by a process that died mid-send.
        query = self._locked_candidates if conn.dialect.name == "postgresql" else self._candidates
        candidates = list(conn.execute(query, {"instance": self.instance, "now": now}))
        if not candidates:
            return [], self._next_due_in(conn, now)
        chosen, wait_s = self.plan(candidates, self._waiting_conversations(conn, now))
        if not chosen:
            return [], wait_s
        conn.execute(_TAKE, {"ids": [r.id for r in chosen], "lease": now + CLAIM_LEASE})
        took_all = len(chosen) == len(candidates) < self._limit
        more_in = self._next_due_in(conn, now) if took_all else 0.0
        return self._prepare(conn, chosen), more_in

    def _waiting_conversations(self, conn: Connection, now: datetime) -> dict[str, datetime]:
        """Conversations with a message waiting for a retry: peer key -> its oldest created_at."""
        rows = conn.execute(_WAITING, {"instance": self.instance, "now": now})
        waiting: dict[str, datetime] = {}
        for to_number, user_id, group_name, group_admin, oldest in rows:
            oldest = UTCDateTime().process_result_value(oldest, conn.dialect) or now
            waiting[conversation(to_number, user_id, group_name, group_admin)] = oldest
        return waiting

    def plan(
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
            key = peer_key(message)
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
        nxt = conn.execute(_NEXT_DUE, {"instance": self.instance}).scalar()
        if nxt is None:
            return NOTHING_DUE_S
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
                _PEERS, {"instance": self.instance, "numbers": list(numbers)}
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
            details = read_details(row.details)
            item.location = location_of(details)
            item.contact = contact_of(details)
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
                    item.media = OutgoingMedia(
                        kind,
                        data,
                        row.filename or "file",
                        mime,
                        audio=audio_of(details),
                        video=video_of(details),
                    )
            item.reply_to_message_id = row.reply_to_telegram_id or replies.get(row.reply_to)
            claimed.append(item)
        if self._mark_read_on_reply:
            self._read_marks(conn, claimed)
        return claimed

    def _read_marks(self, conn: Connection, claimed: list[Claimed]) -> None:
        """The latest message each person of the batch sent the account (mark_read_on_reply)."""
        people = {item.peer.user_id for item in claimed if item.peer is not None}
        if not people:
            return
        # Their private messages only: a group's message is read in the group (and a
        # megagroup numbers its own).
        where = [
            I.c.instance == self.instance,
            I.c.sender_user_id.in_(people),
            I.c.group_id.is_(None),
        ]
        latest = dict(
            conn.execute(
                select(I.c.sender_user_id, func.max(I.c.telegram_message_id))
                .where(*where)
                .group_by(I.c.sender_user_id)
            ).all()
        )
        for item in claimed:
            if item.peer is not None:
                item.read_up_to = latest.get(item.peer.user_id)

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


def conversation(
    to_number: str | None, user_id: int | None, group_name: str | None, group_admin: str | None
) -> str:
    """The key of the chat a message goes to: order and pacing are kept per key."""
    if group_name is not None:
        return f"g:{group_name}:{group_admin}"
    if user_id is not None:
        return f"u:{user_id}"
    return f"n:{to_number}"


def peer_key(message: Any) -> str:
    return conversation(
        message.to_number, message.recipient_user_id, message.group_name, message.group_admin
    )
