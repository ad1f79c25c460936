"""Edits, deletions and reactions on messages of the sandbox account's chats (the port's edit,
delete and react), kept on the message rows and shown in the sent log as the person would see
them.

As Telegram: an edit is allowed for 48 hours after sending (by the sandbox's clock; later:
EditWindowExpired), a message that is not there any more (deleted, or not in that chat) is
MessageGone, deleting what is gone already changes nothing, and injected faults (FloodWait,
a transient error...) apply to these calls as to sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from app.telegram.port import (
    EditWindowExpired,
    MessageGone,
    Peer,
    SessionRevoked,
    TelegramError,
    UserPeer,
)
from app.telegram.sandbox.faults import FaultsMixin
from app.telegram.sandbox.state import _A, _M, _U

EDIT_WINDOW = timedelta(hours=48)


class ActionsMixin(FaultsMixin):
    """The port's edit, delete and react."""

    async def edit(self, peer: Peer, message_id: int, text: str, *, caption: bool) -> datetime:
        work = partial(self._edit, peer=peer, message_id=message_id, text=text, caption=caption)
        result = await self._sql.run(partial(work, now=self._clock()))
        if isinstance(result, TelegramError):
            raise result  # after the commit, so a consumed fault stays consumed
        return result

    async def delete(self, peer: Peer, message_ids: Sequence[int]) -> None:
        work = partial(self._delete, peer=peer, message_ids=list(message_ids))
        error = await self._sql.run(partial(work, now=self._clock()))
        if error is not None:
            raise error

    async def react(self, peer: Peer, message_id: int, emoji: str | None) -> None:
        work = partial(self._react, peer=peer, message_id=message_id, emoji=emoji)
        error = await self._sql.run(work)
        if error is not None:
            raise error

    # --- in one transaction each, on the SqlRunner ---

    def _edit(
        self,
        conn: Connection,
        peer: Peer,
        message_id: int,
        text: str,
        caption: bool,
        now: datetime,
    ) -> datetime | TelegramError:
        refused = self._refusal(conn, peer)
        if refused is not None:
            return refused
        found = self._own_or_inbound(conn, peer, message_id, own=True)
        if found is None:
            return MessageGone("MESSAGE_ID_INVALID")
        if now - found.sent_at >= EDIT_WINDOW:
            return EditWindowExpired("MESSAGE_EDIT_TIME_EXPIRED")
        words = {"caption": text or None} if caption else {"text": text}
        conn.execute(update(_M).where(_M.c.id == found.id).values(edited_at=now, **words))
        return now

    def _delete(
        self, conn: Connection, peer: Peer, message_ids: list[int], now: datetime
    ) -> TelegramError | None:
        refused = self._refusal(conn, peer)
        if refused is not None:
            return refused
        for message_id in message_ids:
            found = self._own_or_inbound(conn, peer, message_id, own=True)
            if found is not None:  # what is gone already is skipped, as Telegram does
                conn.execute(update(_M).where(_M.c.id == found.id).values(deleted_at=now))
        return None

    def _react(
        self, conn: Connection, peer: Peer, message_id: int, emoji: str | None
    ) -> TelegramError | None:
        refused = self._refusal(conn, peer)
        if refused is not None:
            return refused
        found = self._own_or_inbound(conn, peer, message_id, own=False)
        if found is None:
            return MessageGone("MESSAGE_ID_INVALID")
        conn.execute(update(_M).where(_M.c.id == found.id).values(reaction=emoji))
        return None

    def _refusal(self, conn: Connection, peer: Peer) -> TelegramError | None:
        """What refuses any call in this chat: the login gone, an injected fault."""
        logged_in = conn.execute(
            select(_A.c.logged_in).where(_A.c.instance == self.instance)
        ).scalar()
        if not logged_in:
            return SessionRevoked("AUTH_KEY_UNREGISTERED")
        number = None
        if isinstance(peer, UserPeer):
            number = conn.execute(
                select(_U.c.number).where(
                    and_(_U.c.instance == self.instance, _U.c.user_id == peer.user_id)
                )
            ).scalar()
        return self._take_fault(conn, number)

    def _own_or_inbound(self, conn: Connection, peer: Peer, message_id: int, *, own: bool) -> Any:
        """The message `message_id` of the chat `peer`, still there (None: gone). `own`: one
        the account sent; else also one it received (reactions)."""
        where = [
            _M.c.instance == self.instance,
            _M.c.message_id == message_id,
            _M.c.deleted_at.is_(None),
        ]
        if own:
            where.append(_M.c.direction == "out")
        if isinstance(peer, UserPeer):
            # The private chat only: a person's message in a group is not in it.
            where.extend((_M.c.user_id == peer.user_id, _M.c.chat_id.is_(None)))
        else:
            where.append(_M.c.chat_id == peer.chat_id)
        return conn.execute(select(_M.c.id, _M.c.sent_at).where(and_(*where))).first()
