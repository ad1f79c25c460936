"""Edits, deletions and reactions on messages the sandbox account sent (the port's edit,
delete and react), shown in the sent log as the person would see them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.telegram.port import MessageRejected, Peer
from app.telegram.sandbox.state import SandboxState


class ActionsMixin(SandboxState):
    """The port's edit, delete and react."""

    async def edit(self, peer: Peer, message_id: int, text: str, *, caption: bool) -> datetime:
        raise MessageRejected("editing is not built yet")

    async def delete(self, peer: Peer, message_ids: Sequence[int]) -> None:
        raise MessageRejected("deleting is not built yet")

    async def react(self, peer: Peer, message_id: int, emoji: str | None) -> None:
        raise MessageRejected("reactions are not built yet")
