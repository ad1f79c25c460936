"""The one way an inbound message is stored: the dialogue's decisions for a batch of messages,
written with prebuilt SQLAlchemy Core statements in one unit of work (`SqlRunner.run`).

The facts of the whole batch are read at once (which messages are stored already, the senders'
recipient rows); then each message in order gets its decision from `inbound.dialogue.plan`,
each decision's row being the fact of the sender's next message. Most messages are ordinary
ones of registered people: their rows, events and the senders' new names are written together
at the end, a few statements for the whole batch. A decision that changes who is registered (a
registration, a stop word, a new person) is written at once, so that counting the registered
people and releasing a re-used number see it, as the next message of the batch must.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any, Final

from sqlalchemy import Update, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from app.events import append_events, event_row
from app.models import InboundMessage, Instance, MediaBlob, Message, Recipient, table_of
from app.queueing import message_row
from app.recipients import recipient_data
from app.telegram.port import GroupRef, IncomingMessage
from app.vocabulary import EventType, RecipientStatus
from inbound.dialogue import Decision, Facts, Person, Rules, asks_capacity, plan
from inbound.groups import allowed_of, channel_of, group_conversation, note_groups, plan_group
from inbound.received import received_data, stored_kind, stored_location

I = table_of(InboundMessage)  # noqa: E741
R = table_of(Recipient)
B = table_of(MediaBlob)
M = table_of(Message)
N = table_of(Instance)

# The columns of a recipient row that the dialogue reads and changes (Person's fields).
PERSON_COLUMNS: Final = (
    "status",
    "language",
    "number",
    "access_hash",
    "first_name",
    "last_name",
    "username",
    "registered_at",
    "unregistered_at",
    "last_hint_at",
)
# Changes that other decisions of the batch read back from the database (the count of registered
# people, a released number): written at once, not with the batch's end.
_AT_ONCE: Final = frozenset({"status", "number"})

# Built once: constructing a Core statement costs more than running it.
_SEL_SEEN = select(I.c.channel_id, I.c.telegram_message_id).where(
    I.c.instance == bindparam("instance"), I.c.telegram_message_id.in_(bindparam("tgs"))
)
_SEL_RECIPIENTS = select(R.c.id, R.c.user_id, *(R.c[name] for name in PERSON_COLUMNS)).where(
    R.c.instance == bindparam("instance"), R.c.user_id.in_(bindparam("user_ids"))
)
_COUNT_REGISTERED = (
    select(func.count()).select_from(R).where(R.c.status == RecipientStatus.REGISTERED)
)
_SEL_PHONE = select(N.c.phone).where(N.c.number == bindparam("instance"))
_SEL_OURS = (
    select(M.c.id)
    .where(M.c.instance == bindparam("instance"), M.c.telegram_message_id == bindparam("tg"))
    .limit(1)
)
# A megagroup numbers its messages itself: ours there are the group sends to that title.
_SEL_OURS_IN_CHANNEL = _SEL_OURS.where(M.c.group_name == bindparam("title"))
_INSERT_RECIPIENT = insert(R).returning(R.c.id)
_RELEASE_NUMBER = (
    update(R)
    .where(
        R.c.instance == bindparam("b_instance"),
        R.c.number == bindparam("b_number"),
        R.c.status == RecipientStatus.REGISTERED,
        R.c.id != bindparam("b_keep"),
    )
    .values(status=RecipientStatus.UNREGISTERED, unregistered_at=bindparam("b_now"))
)
_INSERT_INBOUND = insert(I)
_INSERT_BLOB = insert(B)
_INSERT_MESSAGE = insert(M)


@cache
def _update_recipient(columns: tuple[str, ...]) -> Update:
    """UPDATE of just these columns (as the ORM would: a concurrent change of another column,
    such as an API unregistration, is not overwritten with what the batch read)."""
    values: dict[str, Any] = {name: bindparam(f"b_{name}") for name in columns}
    return update(R).where(R.c.id == bindparam("b_id")).values(values)


@dataclass(frozen=True)
class Batch:
    """Messages of one instance to store, in the order they came."""

    instance: int
    messages: Sequence[IncomingMessage]
    now: datetime
    rules: Rules
    max_recipients: int
    # One `created_at` per message for its reply, if it gets one: strictly increasing stamps
    # taken on the event loop (the queue clock is not shared with the writer thread).
    stamps: Sequence[datetime]
    # `[[instances]] allowed_groups` of the instance.
    configured_groups: frozenset[int] = frozenset()


@dataclass
class _Row:
    """A recipient row of the batch: what the database holds and what the decisions made."""

    id: int
    stored: Person
    current: Person


@dataclass
class _Writes:
    """What is written at the batch's end, in this order."""

    blobs: list[dict[str, Any]] = field(default_factory=list)
    inbound: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def store_messages(conn: Connection, batch: Batch) -> int:
    """Plan and store every message of `batch`; how many replies were queued."""
    return _Store(conn, batch).run()


class _Store:
    def __init__(self, conn: Connection, batch: Batch) -> None:
        self.conn = conn
        self.batch = batch
        self.instance = batch.instance
        self.now = batch.now
        self.rows: dict[int, _Row] = {}
        self.writes = _Writes()
        self._gateway: list[str | None] = []  # the instance's phone, once read

    def run(self) -> int:
        messages = self.batch.messages
        params = {"instance": self.instance, "tgs": [m.message_id for m in messages]}
        seen = {
            (int(r.channel_id), int(r.telegram_message_id))
            for r in self.conn.execute(_SEL_SEEN, params)
        }
        groups = [m.group for m in messages if m.group is not None]
        note_groups(self.conn, self.instance, groups, self.now)
        configured = self.batch.configured_groups
        allowed = allowed_of(self.conn, self.instance, configured, (g.chat_id for g in groups))
        user_ids = list({m.sender.user_id for m in messages})
        params = {"instance": self.instance, "user_ids": user_ids}
        for found in self.conn.execute(_SEL_RECIPIENTS, params):
            loaded = _person(found)
            self.rows[found.user_id] = _Row(found.id, loaded, loaded)
        for msg, stamp in zip(messages, self.batch.stamps, strict=True):
            row = self.rows.get(msg.sender.user_id)
            person = row.current if row is not None else None
            key = (channel_of(msg.group), msg.message_id)
            if msg.group is not None:
                in_allowed = msg.group.chat_id in allowed
                decision = plan_group(msg, person, in_allowed, seen=key in seen)
            else:
                full = asks_capacity(msg, person, self.batch.rules) and self._full()
                facts = Facts(person, seen=key in seen, full=full)
                decision = plan(msg, facts, self.batch.rules, self.now)
            if decision.handling is None:
                continue
            seen.add(key)
            self._keep(msg, row, decision)
            self._record(msg, decision, stamp)
        self._flush()
        return len(self.writes.replies)

    # --- the sender's row ---

    def _full(self) -> bool:
        registered = self.conn.execute(_COUNT_REGISTERED).scalar() or 0
        return registered >= self.batch.max_recipients

    def _keep(self, msg: IncomingMessage, row: _Row | None, decision: Decision) -> None:
        """Apply the decision to the sender's row: at once when it is new or changes who is
        registered, else with the batch's end."""
        after = decision.person
        if after is None:
            return
        user_id = msg.sender.user_id
        if row is None:
            values = _fields(after)
            values.update(instance=self.instance, user_id=user_id, created_at=self.now)
            new_id = int(self.conn.execute(_INSERT_RECIPIENT, values).scalar_one())
            row = self.rows[user_id] = _Row(new_id, after, after)
        elif _changed(row.current, after) & _AT_ONCE:
            self._write(row.id, row.stored, after)
            row.stored = row.current = after
        else:
            row.current = after
        if decision.releases is not None:
            self._release(decision.releases, keep=row.id)

    def _release(self, number: str, keep: int) -> None:
        """A number belongs to one account: an older registration of it (a re-used SIM) ends."""
        self.conn.execute(
            _RELEASE_NUMBER,
            {"b_instance": self.instance, "b_number": number, "b_keep": keep, "b_now": self.now},
        )
        for row in self.rows.values():
            current = row.current
            registered = current.status == RecipientStatus.REGISTERED
            if row.id != keep and current.number == number and registered:
                ended = RecipientStatus.UNREGISTERED
                row.stored = replace(row.stored, status=ended, unregistered_at=self.now)
                row.current = replace(current, status=ended, unregistered_at=self.now)

    def _write(self, row_id: int, stored: Person, after: Person) -> None:
        columns = tuple(sorted(_changed(stored, after)))
        if columns:
            self.conn.execute(_update_recipient(columns), _update_params(row_id, after, columns))

    # --- the message, its reply and events ---

    def _record(self, msg: IncomingMessage, decision: Decision, stamp: datetime) -> None:
        writes, sender = self.writes, msg.sender
        forwarded = decision.handling == "forwarded"
        media_id = None
        if msg.media is not None and forwarded:
            media_id = str(uuid.uuid4())
            writes.blobs.append(
                {
                    "id": media_id,
                    "sha256": hashlib.sha256(msg.media.data).hexdigest(),
                    "size": len(msg.media.data),
                    "mime_type": msg.media.mime_type or "application/octet-stream",
                    "data": msg.media.data,
                    "created_at": self.now,
                }
            )
        inbound_id = str(uuid.uuid4())
        writes.inbound.append(
            {
                "id": inbound_id,
                "instance": self.instance,
                "telegram_message_id": msg.message_id,
                "sender_user_id": sender.user_id,
                "number": decision.number,
                "text": msg.text or None,
                "media_kind": stored_kind(msg),
                "media_id": media_id,
                "filename": msg.media.filename if msg.media else None,
                "reply_to_telegram_id": msg.reply_to_message_id,
                "handling": decision.handling,
                "received_at": self.now,
                "channel_id": channel_of(msg.group),
                "group_id": msg.group.chat_id if msg.group else None,
                "group_title": msg.group.title[:255] if msg.group else None,
                "location": stored_location(msg),
            }
        )
        if decision.reply is not None:
            writes.replies.append(
                message_row(
                    instance=self.instance,
                    kind="text",
                    now=self.now,
                    created_at=stamp,
                    origin="system",
                    recipient_user_id=sender.user_id,
                    recipient_access_hash=sender.access_hash,
                    text=decision.reply.text,
                )
            )
        for type_ in decision.events:
            if type_ == EventType.MESSAGE_RECEIVED:
                ours = self._ours(msg.reply_to_message_id, msg.group)
                data = received_data(
                    inbound_id=inbound_id,
                    msg=msg,
                    number=decision.number,
                    media_id=media_id,
                    received_at=self.now,
                    reply_to_ours=ours,
                    mentioned=msg.group is not None and (msg.mentioned or ours is not None),
                )
                conversation = None
                if msg.group is not None:
                    conversation = group_conversation(self.instance, msg.group.chat_id)
                self._event(
                    type_, decision.number, data, message=msg.text or "", conversation=conversation
                )
            else:
                assert decision.person is not None
                fields = _fields(decision.person)
                data = recipient_data(
                    Recipient(instance=self.instance, user_id=sender.user_id, **fields)
                )
                if type_ == EventType.RECIPIENT_UNREGISTERED:
                    data["reason"] = "stop_word"
                self._event(type_, decision.person.number, data)

    def _event(
        self,
        type_: EventType,
        number: str | None,
        data: dict[str, Any],
        message: str | None = None,
        conversation: str | None = None,
    ) -> None:
        if not self._gateway:
            phone = self.conn.execute(_SEL_PHONE, {"instance": self.instance}).scalar()
            self._gateway.append(phone)
        self.writes.events.append(
            event_row(
                type_,
                now=self.now,
                instance=self.instance,
                number=number,
                message=message,
                gateway_number=self._gateway[0],
                data=data,
                conversation=conversation,
            )
        )

    def _ours(self, telegram_id: int | None, group: GroupRef | None) -> str | None:
        """Our message that a reply answers, if it is one of ours."""
        if telegram_id is None:
            return None
        params: dict[str, Any] = {"instance": self.instance, "tg": telegram_id}
        statement = _SEL_OURS
        if group is not None and group.is_channel:
            statement, params["title"] = _SEL_OURS_IN_CHANNEL, group.title
        found: str | None = self.conn.execute(statement, params).scalar()
        return found

    def _flush(self) -> None:
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in self.rows.values():
            columns = tuple(sorted(_changed(row.stored, row.current)))
            if columns:
                by_columns.setdefault(columns, []).append(
                    _update_params(row.id, row.current, columns)
                )
        for columns, params in by_columns.items():
            self.conn.execute(_update_recipient(columns), params)  # each row's latest values
        writes = self.writes
        if writes.blobs:
            self.conn.execute(_INSERT_BLOB, writes.blobs)  # before the rows that point at them
        if writes.inbound:
            self.conn.execute(_INSERT_INBOUND, writes.inbound)
        if writes.replies:
            self.conn.execute(_INSERT_MESSAGE, writes.replies)
        append_events(self.conn, writes.events)  # in the messages' order: seq order is theirs


def _person(found: Any) -> Person:
    values = {name: getattr(found, name) for name in PERSON_COLUMNS}
    values["status"] = RecipientStatus(values["status"])
    return Person(**values)


def _changed(before: Person, after: Person) -> set[str]:
    if before is after:
        return set()
    return {name for name in PERSON_COLUMNS if getattr(before, name) != getattr(after, name)}


def _fields(person: Person) -> dict[str, Any]:
    return {name: getattr(person, name) for name in PERSON_COLUMNS}


def _update_params(row_id: int, person: Person, columns: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {f"b_{name}": getattr(person, name) for name in columns}
    params["b_id"] = row_id
    return params
