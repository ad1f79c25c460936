"""Updates in, beyond new messages: the groups messages come from, and what people do to
messages afterwards (edits, deletions, reactions), as the port's updates.

Telegram's shapes: an edit is updateEditMessage (private chats, basic groups) or
updateEditChannelMessage (megagroups); in private chats a reaction often comes as an
updateEditMessage whose `edit_date` did not move but whose `reactions` did, so every private
edit also says the person's current reactions (the receiver reports only changes). Deletions
name ids only (updateDeleteMessages), or a channel and ids (updateDeleteChannelMessages).
updateMessageReactions lists the recent reactors of a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telethon import utils
from telethon.tl import types

from app.telegram import port

log = logging.getLogger(__name__)


def emoji_of(reaction: Any) -> str | None:
    """A reaction as text: its emoji, or "custom:<document id>" for a custom emoji; None for
    paid stars and anything newer."""
    if isinstance(reaction, types.ReactionEmoji):
        return str(reaction.emoticon)
    if isinstance(reaction, types.ReactionCustomEmoji):
        return f"custom:{reaction.document_id}"
    return None


def _user_of(peer: Any) -> int | None:
    return int(peer.user_id) if isinstance(peer, types.PeerUser) else None


def person_emojis(reactions: Any, person_id: int) -> tuple[str, ...]:
    """The emojis `person_id` has on a private message (the only other side of the chat)."""
    if reactions is None:
        return ()
    recent = getattr(reactions, "recent_reactions", None)
    if recent:
        found = (emoji_of(r.reaction) for r in recent if _user_of(r.peer_id) == person_id)
        return tuple(e for e in found if e is not None)
    # No list: a count not made up by the account's own choice is the person's.
    emojis = []
    for result in reactions.results or ():
        own = 1 if getattr(result, "chosen_order", None) is not None else 0
        emoji = emoji_of(result.reaction)
        if emoji is not None and result.count - own > 0:
            emojis.append(emoji)
    return tuple(emojis)


def listed_reactions(reactions: Any, own_id: int | None) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Who reacts with what, from a group message's recent reactions (the account left out)."""
    by_user: dict[int, list[str]] = {}
    for recent in getattr(reactions, "recent_reactions", None) or ():
        user_id = _user_of(recent.peer_id)
        emoji = emoji_of(recent.reaction)
        if user_id is None or user_id == own_id or getattr(recent, "my", False) or emoji is None:
            continue
        by_user.setdefault(user_id, []).append(emoji)
    return tuple((user_id, tuple(emojis)) for user_id, emojis in by_user.items())


def group_ref(chat: Any) -> port.GroupRef | None:
    """A basic group or megagroup as the port names it; None for anything else (a broadcast
    channel, a chat the account left)."""
    if isinstance(chat, types.Chat):
        return port.GroupRef(chat_id=int(chat.id), title=chat.title or "")
    if isinstance(chat, types.Channel) and chat.megagroup:
        return port.GroupRef(
            chat_id=int(chat.id),
            title=chat.title or "",
            access_hash=chat.access_hash,
            is_channel=True,
        )
    return None


class ChangeConverter:
    """Turns one account's raw updates into the port's (the backend gives it a way to find a
    chat it has no entity of at hand, and the account's own id)."""

    def __init__(
        self,
        get_entity: Callable[[Any], Any],
        own_id: Callable[[], int | None],
        clock: Callable[[], datetime],
    ) -> None:
        self._get_entity = get_entity
        self._own_id = own_id
        self._clock = clock

    async def group_of(self, peer: Any, update: Any) -> port.GroupRef | bool | None:
        """The group of `peer`; False when it is a chat the gateway does not take (a broadcast
        channel, one it cannot see); None for a private chat."""
        if isinstance(peer, types.PeerUser):
            return None
        entities = getattr(update, "_entities", None) or {}
        entity = entities.get(utils.get_peer_id(peer))
        if entity is None:
            try:
                entity = await self._get_entity(peer)
            except Exception:
                log.warning("no entity for %s: its update is left out", peer)
                return False
        return group_ref(entity) or False

    async def edit(self, update: Any) -> list[port.Update]:
        """updateEditMessage / updateEditChannelMessage: the edit of a person's message, and
        in a private chat the person's reactions on the message (theirs or the account's)."""
        message = update.message
        if not isinstance(message, types.Message):
            return []
        group = await self.group_of(message.peer_id, update)
        if group is False:
            return []
        assert group is not True
        found: list[port.Update] = []
        sender_id = _user_of(message.from_id) if group is not None else None
        if group is None:
            sender_id = _user_of(message.peer_id)
        if not message.out and message.edit_date is not None and sender_id is not None:
            found.append(
                port.MessageEdited(
                    message_id=int(message.id),
                    edit_date=message.edit_date,
                    sender_user_id=sender_id,
                    text=message.message or "",
                    group=group,
                )
            )
        person = _user_of(message.peer_id)
        if group is None and person is not None:
            found.append(
                port.ReactionChanged(
                    message_id=int(message.id),
                    user_id=person,
                    emojis=person_emojis(message.reactions, person),
                    date=self._clock(),
                )
            )
        return found

    async def deletion(self, update: Any) -> list[port.Update]:
        ids = tuple(int(i) for i in update.messages)
        if isinstance(update, types.UpdateDeleteChannelMessages):
            group = await self.group_of(types.PeerChannel(update.channel_id), update)
            if not isinstance(group, port.GroupRef):
                return []
            return [port.MessagesDeleted(message_ids=ids, group=group)]
        return [port.MessagesDeleted(message_ids=ids)]

    async def reactions(self, update: Any) -> list[port.Update]:
        """updateMessageReactions: the person's reactions (private), or the recent reactors'."""
        group = await self.group_of(update.peer, update)
        if group is False:
            return []
        now = self._clock()
        if isinstance(group, port.GroupRef):
            listed = listed_reactions(update.reactions, self._own_id())
            return [port.ReactionsListed(int(update.msg_id), listed, now, group)]
        person = _user_of(update.peer)
        if person is None:
            return []
        emojis = person_emojis(update.reactions, person)
        return [port.ReactionChanged(int(update.msg_id), person, emojis, now)]
