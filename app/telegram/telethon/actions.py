"""Edits, deletions and reactions on messages of the account's chats (messages.editMessage,
messages.deleteMessages with revoke or channels.deleteMessages in a megagroup,
messages.sendReaction).

MESSAGE_NOT_MODIFIED (the same words again: an edit made before a crash, retried) counts as
done, which makes an edit safe to retry; a deletion or a reaction is safe to repeat as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from telethon import errors, functions
from telethon.tl import types

from app.telegram import port
from app.telegram.telethon import limits
from app.telegram.telethon.core import BackendCore
from app.telegram.telethon.errors import ACTION_ERRORS, to_port_error
from app.telegram.telethon.sending import _input_peer

T = TypeVar("T")


class ActionsMixin(BackendCore):
    """TelethonBackend's edit, delete and react."""

    async def edit(self, peer: port.Peer, message_id: int, text: str, *, caption: bool) -> datetime:
        async def work(client: Any) -> datetime:
            request = functions.messages.EditMessageRequest(
                peer=_input_peer(peer), id=message_id, message=text
            )
            try:
                result = await client(request)
            except errors.MessageNotModifiedError:
                return self._clock()  # it says this already: an earlier try got through
            return _edit_date(result, message_id) or self._clock()

        return await self._call(work)

    async def delete(self, peer: port.Peer, message_ids: Sequence[int]) -> None:
        async def work(client: Any) -> None:
            ids = list(message_ids)
            if isinstance(peer, port.GroupPeer) and peer.is_channel:
                channel = types.InputChannel(peer.chat_id, peer.access_hash or 0)
                await client(functions.channels.DeleteMessagesRequest(channel=channel, id=ids))
            else:  # a private chat or a basic group: the account's own message box
                await client(functions.messages.DeleteMessagesRequest(id=ids, revoke=True))

        await self._call(work)

    async def react(self, peer: port.Peer, message_id: int, emoji: str | None) -> None:
        async def work(client: Any) -> None:
            reaction = [types.ReactionEmoji(emoticon=emoji)] if emoji else []
            await client(
                functions.messages.SendReactionRequest(
                    peer=_input_peer(peer), msg_id=message_id, reaction=reaction
                )
            )

        await self._call(work)

    async def _call(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """`work` with the live client, its errors as the port's; a dead session is handled
        as a send's is (the instance waits for a login)."""
        client = self._live_client()
        try:
            return await asyncio.wait_for(work(client), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            error = to_port_error(exc, ACTION_ERRORS)
            if isinstance(error, port.SessionRevoked):
                async with self._lock:  # a transition: one at a time with the others
                    if self._client is client:
                        await self._revoked(error)
                        await self._close_client()
            raise error from exc


def _edit_date(result: Any, message_id: int) -> datetime | None:
    """The edit date Telegram gave the message (in the UpdateEditMessage it answers with)."""
    for update in getattr(result, "updates", None) or []:
        message = getattr(update, "message", None)
        if getattr(message, "id", None) == message_id:
            date: datetime | None = getattr(message, "edit_date", None)
            return date
    return None
