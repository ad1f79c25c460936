"""What a send does: checked and stored as Telegram would take it, plus the groups one can send
to and the log of what was sent."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlmodel import col

from app.db import transaction
from app.telegram.port import (
    AlreadySent,
    ChatAction,
    GroupNotFound,
    GroupPeer,
    OutgoingMessage,
    Peer,
    PeerInvalid,
    SentMessage,
    SessionRevoked,
    TelegramError,
    UserPeer,
)
from app.telegram.sandbox.faults import FaultsMixin
from app.telegram.sandbox.reach import person_refusal
from app.telegram.sandbox.state import (
    _A,
    _G,
    _INSERT_MESSAGE,
    _M,
    _TAKE_MESSAGE_IDS,
    _U,
    _stable_int,
)
from app.telegram.sandbox.tables import SandboxGroup, SandboxMessage
from app.telegram.uploads import upload_action
from app.timestamps import iso

# Built once: constructing a Core statement costs more than running it (sends are hot).
_SEL_ACCOUNT = select(_A.c.logged_in, _A.c.last_message_id).where(
    _A.c.instance == bindparam("instance")
)
_SEL_USER = select(_U.c.user_id, _U.c.access_hash, _U.c.number, _U.c.read_inbox_max_id).where(
    _U.c.instance == bindparam("instance"), _U.c.user_id == bindparam("user_id")
)
_SEL_DUPLICATE = select(_M.c.message_id).where(
    _M.c.instance == bindparam("instance"), _M.c.random_id == bindparam("random_id")
)
_SEL_GROUP = select(_G.c.chat_id).where(
    _G.c.instance == bindparam("instance"), _G.c.chat_id == bindparam("chat_id")
)


class SendingMixin(FaultsMixin):
    """The port's send and group lookup, and the sandbox's groups and sent log."""

    _chat_actions: list[tuple[Peer, ChatAction | None]] | None = None

    @property
    def chat_actions(self) -> list[tuple[Peer, ChatAction | None]]:
        """Every chat action shown (None: cancelled), in order, since this backend started:
        for tests (the sent log also names the action shown while a message was sent)."""
        if self._chat_actions is None:
            self._chat_actions = []
        return self._chat_actions

    async def send(self, message: OutgoingMessage) -> SentMessage:
        # A large file shows "sending a video..." while it goes out, as on Telegram.
        action = upload_action(message.media)
        if action is not None:
            await self.show_action(message.peer, action)
        try:
            result = await self._sql.run(
                partial(self._send, message=message, now=self._clock(), action=action)
            )
        finally:
            if action is not None:
                await self.show_action(message.peer, None)
        if isinstance(result, TelegramError):
            raise result  # raised after the commit, so a consumed fault stays consumed
        return result

    def _send(
        self,
        conn: Connection,
        message: OutgoingMessage,
        now: datetime,
        action: ChatAction | None = None,
    ) -> SentMessage | TelegramError:
        """One send as Telegram would take it, in one transaction (on the SqlRunner)."""
        instance = self.instance
        account = conn.execute(_SEL_ACCOUNT, {"instance": instance}).first()
        if account is None or not account.logged_in:
            return SessionRevoked("AUTH_KEY_UNREGISTERED")
        peer = message.peer
        user = None
        if isinstance(peer, UserPeer):
            params = {"instance": instance, "user_id": peer.user_id}
            user = conn.execute(_SEL_USER, params).first()
        number = user.number if user is not None else None
        fault = self._take_fault(conn, number)
        if fault is not None:
            return fault
        params = {"instance": instance, "random_id": message.random_id}
        duplicate = conn.execute(_SEL_DUPLICATE, params).scalar()
        if duplicate is not None:
            return AlreadySent(duplicate)
        user_id = chat_id = None
        if isinstance(peer, UserPeer):
            if user is None or user.access_hash != peer.access_hash:
                return PeerInvalid("PEER_ID_INVALID")
            user_id = user.user_id
            refusal = person_refusal(conn, instance, number)  # POST /admin/sandbox/{n}/people
            if refusal is not None:
                return refusal
        else:
            params = {"instance": instance, "chat_id": peer.chat_id}
            chat_id = conn.execute(_SEL_GROUP, params).scalar()
            if chat_id is None:
                return PeerInvalid("CHAT_ID_INVALID")
        # Atomic (row lock on PostgreSQL): an inbound batch may take ids at the same time.
        message_id = int(
            conn.execute(_TAKE_MESSAGE_IDS, {"b_instance": instance, "b_count": 1}).scalar_one()
        )
        media = message.media
        conn.execute(
            _INSERT_MESSAGE,
            {
                "instance": instance,
                "message_id": message_id,
                "direction": "out",
                "user_id": user_id,
                "chat_id": chat_id,
                "number": number,
                "kind": _kind(message),
                "text": message.text,
                "caption": message.caption,
                "filename": media.filename if media else None,
                "mime_type": media.mime_type if media else None,
                "size": len(media.data) if media else None,
                "sha256": hashlib.sha256(media.data).hexdigest() if media else None,
                "data": None,
                "random_id": message.random_id,
                "reply_to": message.reply_to_message_id,
                "contact_number": None,
                "contact_user_id": None,
                "details": orjson.dumps(
                    _details(message, action, user.read_inbox_max_id if user else None)
                ).decode(),
                "sent_at": now,
                **_audio_columns(message),
            },
        )
        return SentMessage(message_id=message_id, date=now)

    async def show_action(self, peer: Peer, action: ChatAction | None) -> None:
        self.chat_actions.append((peer, action))

    async def read_inbox(self, peer: Peer, max_message_id: int) -> None:
        """Records the account's read mark in the person's chat (`read_inbox_max_id` of
        sandbox_user; the sent log shows it as each later message's `inbox_read_up_to`)."""
        error = await self._sql.run(
            partial(self._read_inbox, peer=peer, max_message_id=max_message_id)
        )
        if error is not None:
            raise error

    def _read_inbox(
        self, conn: Connection, peer: Peer, max_message_id: int
    ) -> TelegramError | None:
        account = conn.execute(_SEL_ACCOUNT, {"instance": self.instance}).first()
        if account is None or not account.logged_in:
            return SessionRevoked("AUTH_KEY_UNREGISTERED")
        if not isinstance(peer, UserPeer):
            return None  # groups keep no read mark in the sandbox
        user = conn.execute(_SEL_USER, {"instance": self.instance, "user_id": peer.user_id}).first()
        if user is None or user.access_hash != peer.access_hash:
            return PeerInvalid("PEER_ID_INVALID")
        if max_message_id > user.read_inbox_max_id:
            conn.execute(
                update(_U)
                .where(_U.c.instance == self.instance, _U.c.user_id == peer.user_id)
                .values(read_inbox_max_id=max_message_id)
            )
        return None

    async def resolve_group(self, group_name: str, admin_number: str) -> GroupPeer:
        where = [
            col(SandboxGroup.instance) == self.instance,
            col(SandboxGroup.group_name) == group_name,
        ]
        if admin_number:
            where.append(col(SandboxGroup.group_admin) == admin_number)
        async with self._factory() as session:
            groups = list(await session.scalars(select(SandboxGroup).where(and_(*where)).limit(2)))
        if not groups:
            creator = f" created by {admin_number}" if admin_number else ""
            raise GroupNotFound(f"the gateway is in no group named {group_name!r}{creator}")
        if len(groups) > 1:  # only without a creator's number: the title is not unique
            raise GroupNotFound(
                f"the gateway is in several groups named {group_name!r}: give group_admin"
            )
        return GroupPeer(chat_id=groups[0].chat_id)

    async def add_group(self, group_name: str, group_admin: str, members: list[str]) -> int:
        chat_id = _stable_int("chat", self.instance, group_name, group_admin, bits=36)
        async with transaction(self._factory) as session:
            existing = await session.scalar(
                select(SandboxGroup).where(
                    and_(
                        col(SandboxGroup.instance) == self.instance,
                        col(SandboxGroup.chat_id) == chat_id,
                    )
                )
            )
            if existing is None:
                existing = SandboxGroup(
                    instance=self.instance,
                    chat_id=chat_id,
                    group_name=group_name,
                    group_admin=group_admin,
                    members="[]",
                )
                session.add(existing)
            existing.members = orjson.dumps(members).decode()
        return chat_id

    async def sent_log(self, number: str | None = None) -> list[dict[str, Any]]:
        async with self._factory() as session:
            query = select(SandboxMessage).where(
                and_(
                    col(SandboxMessage.instance) == self.instance,
                    col(SandboxMessage.direction) == "out",
                )
            )
            if number is not None:
                query = query.where(col(SandboxMessage.number) == number)
            rows = await session.scalars(query.order_by(col(SandboxMessage.message_id)))
            groups = {
                g.chat_id: g.group_name
                for g in await session.scalars(
                    select(SandboxGroup).where(col(SandboxGroup.instance) == self.instance)
                )
            }
            return [
                {
                    "message_id": r.message_id,
                    "number": r.number,
                    "group_name": groups.get(r.chat_id) if r.chat_id else None,
                    "kind": r.kind,
                    "text": r.text,
                    "caption": r.caption,
                    "filename": r.filename,
                    "mime_type": r.mime_type,
                    "size": r.size,
                    "sha256": r.sha256,
                    "random_id": r.random_id,
                    "reply_to": r.reply_to,
                    **_shown_details(r.details),
                    "sent_at": iso(r.sent_at),
                    "duration_s": r.duration_s,
                    "voice": r.voice,
                    # After the account's edits, deletion and reaction (sandbox/actions.py).
                    "edited_at": iso(r.edited_at) if r.edited_at else None,
                    "deleted": r.deleted_at is not None,
                    "deleted_at": iso(r.deleted_at) if r.deleted_at else None,
                    "reactions": [r.reaction] if r.reaction else [],
                }
                for r in rows
            ]


def _audio_columns(message: OutgoingMessage) -> dict[str, Any]:
    """Duration and voice bubble of an audio send: Telegram shows a bubble only for OGG/Opus
    sent as a voice note with its waveform; anything else it shows as a file."""
    media = message.media
    audio = media.audio if media is not None else None
    if media is None or media.kind not in ("voice_note", "audio"):
        return {"duration_s": None, "voice": None}
    voice = (
        media.kind == "voice_note"
        and media.mime_type == "audio/ogg"
        and audio is not None
        and audio.waveform is not None
    )
    return {"duration_s": audio.duration_s if audio is not None else None, "voice": voice}


def _kind(message: OutgoingMessage) -> str:
    if message.media is not None:
        return message.media.kind
    if message.location is not None:
        return "location"
    if message.contact is not None:
        return "contact"
    return "text"


def _details(
    message: OutgoingMessage, action: ChatAction | None, inbox_read_up_to: int | None
) -> dict[str, Any]:
    """What the sandbox keeps of a sent message beyond its text and file (sandbox_message
    `details`), as the sent log shows it."""
    media = message.media
    return {
        "location": asdict(message.location) if message.location else None,
        "contact": asdict(message.contact) if message.contact else None,
        "video": asdict(media.video) if media is not None and media.video else None,
        "silent": message.silent,
        "link_preview": message.link_preview,
        "action_shown": action,
        "inbox_read_up_to": inbox_read_up_to,
    }


def _shown_details(raw: str | None) -> dict[str, Any]:
    """The sent log's fields from `details` (messages sent before it was kept: defaults)."""
    found = orjson.loads(raw) if raw else {}
    return {
        "location": found.get("location"),
        "contact": found.get("contact"),
        "video": found.get("video"),
        "silent": bool(found.get("silent", False)),
        "link_preview": found.get("link_preview", True) is not False,
        "action_shown": found.get("action_shown"),
        "inbox_read_up_to": found.get("inbox_read_up_to"),
    }
