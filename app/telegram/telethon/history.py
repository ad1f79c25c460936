"""A private chat's history (messages.getHistory), converted to the port's HistoryItem.

One page per call: the caller (app/history/backfill.py) decides how many pages to ask for and
how fast. Files are described from their attributes, never downloaded. A FloodWait comes back
as the port's FloodWait (the client's flood_sleep_threshold is 0: Telethon never sleeps on one
itself).
"""

from __future__ import annotations

import asyncio
from typing import Any

from telethon import functions
from telethon.tl import types

from app.telegram import port
from app.telegram.telethon import limits
from app.telegram.telethon.core import BackendCore
from app.telegram.telethon.errors import to_port_error
from app.telegram.telethon.updates import _media_facts


class HistoryMixin(BackendCore):
    """TelethonBackend's history."""

    async def history(
        self, peer: port.UserPeer, before_id: int, limit: int
    ) -> list[port.HistoryItem]:
        client = self._live_client()
        request = functions.messages.GetHistoryRequest(
            peer=types.InputPeerUser(peer.user_id, peer.access_hash or 0),
            offset_id=before_id,
            offset_date=None,
            add_offset=0,
            limit=max(0, min(limit, port.HISTORY_PAGE_MAX)),
            max_id=0,
            min_id=0,
            hash=0,
        )
        try:
            answer = await asyncio.wait_for(client(request), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_port_error(exc) from exc
        # messages.messages, messages.messagesSlice (a long chat) or channelMessages: all
        # carry `messages`; messageEmpty entries (deleted ones) are skipped.
        return [
            history_item(message)
            for message in getattr(answer, "messages", [])
            if isinstance(message, types.Message | types.MessageService)
        ]


def history_item(message: Any) -> port.HistoryItem:
    """One TL message as the port's HistoryItem."""
    reply_to = None
    if getattr(message, "reply_to", None) is not None:
        reply_to = getattr(message.reply_to, "reply_to_msg_id", None)
    kind: port.HistoryKind = "other"
    filename = mime_type = None
    size = None
    if isinstance(message, types.Message):
        kind, filename, mime_type, size = _kind_of(message.media)
    return port.HistoryItem(
        message_id=int(message.id),
        date=message.date,
        outgoing=bool(message.out),
        kind=kind,
        text=getattr(message, "message", None) or "",
        filename=filename,
        mime_type=mime_type,
        size=size,
        reply_to_message_id=reply_to,
    )


def _kind_of(media: Any) -> tuple[port.HistoryKind, str | None, str | None, int | None]:
    """(kind, file name, MIME type, size) of a message's media (None: a text)."""
    if media is None:
        return "text", None, None, None
    if isinstance(media, types.MessageMediaContact):
        return "contact", None, None, None
    if isinstance(
        media, types.MessageMediaGeo | types.MessageMediaGeoLive | types.MessageMediaVenue
    ):
        return "location", None, None, None
    if isinstance(media, types.MessageMediaPhoto | types.MessageMediaDocument):
        kind, filename, mime_type = _media_facts(media)
        if kind is None:
            return "other", None, None, None
        document = getattr(media, "document", None)
        size = int(document.size) if isinstance(document, types.Document) else None
        return kind, filename, mime_type, size
    if isinstance(media, types.MessageMediaWebPage):
        return "text", None, None, None  # a text with a link preview
    return "other", None, None, None
