"""A private chat's history as the simulated Telegram keeps it (the port's `history`, like
messages.getHistory), and messages the gateway never heard of: the account's owner writing
from the phone, or the person writing before the gateway ran (`add_unseen`)."""

from __future__ import annotations

from functools import partial
from typing import cast

from sqlalchemy import select
from sqlalchemy.engine import Connection

from app.telegram.port import (
    HISTORY_KINDS,
    HISTORY_PAGE_MAX,
    FloodWait,
    HistoryItem,
    HistoryKind,
    PeerInvalid,
    SessionRevoked,
    TelegramError,
    UserPeer,
)
from app.telegram.sandbox.faults import _USE_FAULT
from app.telegram.sandbox.state import (
    _A,
    _F,
    _INSERT_MESSAGE,
    _M,
    _TAKE_MESSAGE_IDS,
    _U,
    SandboxInputError,
    SandboxState,
)

_KINDS = set(HISTORY_KINDS)


class HistoryMixin(SandboxState):
    """The port's history, and the sandbox control that puts unseen messages in a chat."""

    async def history(self, peer: UserPeer, before_id: int, limit: int) -> list[HistoryItem]:
        found = await self._sql.run(
            partial(self._history, peer=peer, before_id=before_id, limit=limit)
        )
        if isinstance(found, TelegramError):
            raise found  # raised after the commit, so a consumed fault stays consumed
        return found

    def _history(
        self, conn: Connection, peer: UserPeer, before_id: int, limit: int
    ) -> list[HistoryItem] | TelegramError:
        account = conn.execute(select(_A.c.logged_in).where(_A.c.instance == self.instance)).first()
        if account is None or not account.logged_in:
            return SessionRevoked("AUTH_KEY_UNREGISTERED")
        user = conn.execute(
            select(_U.c.access_hash, _U.c.number).where(
                _U.c.instance == self.instance, _U.c.user_id == peer.user_id
            )
        ).first()
        if user is None or user.access_hash != peer.access_hash:
            return PeerInvalid("PEER_ID_INVALID")
        flood = self._take_flood_wait(conn, user.number)
        if flood is not None:
            return flood
        query = select(_M).where(
            _M.c.instance == self.instance,
            _M.c.user_id == peer.user_id,
            _M.c.chat_id.is_(None),
            _M.c.deleted_at.is_(None),
        )
        if before_id:
            query = query.where(_M.c.message_id < before_id)
        rows = conn.execute(
            query.order_by(_M.c.message_id.desc()).limit(max(0, min(limit, HISTORY_PAGE_MAX)))
        ).all()
        return [
            HistoryItem(
                message_id=int(row.message_id),
                date=row.sent_at,
                outgoing=row.direction == "out",
                kind=cast(HistoryKind, row.kind if row.kind in _KINDS else "other"),
                text=(row.caption if row.kind not in ("text", "contact") else row.text) or "",
                filename=row.filename,
                mime_type=row.mime_type,
                size=row.size,
                reply_to_message_id=row.reply_to,
            )
            for row in rows
        ]

    def _take_flood_wait(self, conn: Connection, number: str) -> FloodWait | None:
        """An injected FloodWait (POST /admin/sandbox/{n}/faults with flood_wait_s) holds the
        history call too; the other injected faults are about sends and stay for them."""
        fault = conn.execute(
            select(_F.c.id, _F.c.flood_wait_s)
            .where(
                _F.c.instance == self.instance,
                _F.c.times_left > 0,
                _F.c.flood_wait_s.is_not(None),
                (_F.c.number.is_(None)) | (_F.c.number == number),
            )
            .order_by(_F.c.id)
            .limit(1)
        ).first()
        if fault is None:
            return None
        conn.execute(_USE_FAULT, {"fault_id": fault.id})
        return FloodWait(int(fault.flood_wait_s))

    async def add_unseen(self, number: str, text: str, *, outgoing: bool) -> int:
        """A text message in the chat with `number` that makes no update: the account's owner
        wrote it from the phone (`outgoing`), or the person wrote it before the gateway ran.
        Only a backfill (the port's history) shows it. Returns its message id."""
        if not text:
            raise SandboxInputError("text must not be empty")
        return await self._sql.run(
            partial(self._add_unseen, number=number, text=text, outgoing=outgoing)
        )

    def _add_unseen(self, conn: Connection, number: str, text: str, outgoing: bool) -> int:
        user = conn.execute(
            select(_U.c.user_id).where(_U.c.instance == self.instance, _U.c.number == number)
        ).first()
        if user is None:
            raise SandboxInputError(
                f"{number} has never written to sandbox instance {self.instance}"
            )
        message_id = int(
            conn.execute(
                _TAKE_MESSAGE_IDS, {"b_instance": self.instance, "b_count": 1}
            ).scalar_one()
        )
        conn.execute(
            _INSERT_MESSAGE,
            {
                "instance": self.instance,
                "message_id": message_id,
                "direction": "out" if outgoing else "in",
                "user_id": user.user_id,
                "chat_id": None,
                "number": number,
                "kind": "text",
                "text": text,
                "sent_at": self._clock(),
            },
        )
        return message_id
