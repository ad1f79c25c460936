"""Edits, deletions and reactions on messages the account sent (messages.editMessage,
messages.deleteMessages with revoke, messages.sendReaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.telegram import port
from app.telegram.telethon.core import BackendCore


class ActionsMixin(BackendCore):
    """TelethonBackend's edit, delete and react."""

    async def edit(self, peer: port.Peer, message_id: int, text: str, *, caption: bool) -> datetime:
        raise port.MessageRejected("editing is not built yet")

    async def delete(self, peer: port.Peer, message_ids: Sequence[int]) -> None:
        raise port.MessageRejected("deleting is not built yet")

    async def react(self, peer: port.Peer, message_id: int, emoji: str | None) -> None:
        raise port.MessageRejected("reactions are not built yet")
