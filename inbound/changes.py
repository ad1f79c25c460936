"""What people do to messages after they were sent: edits, deletions, reactions; each becomes
an event (`message.edited`, `message.deleted`, `message.reaction`, direction "inbound" for a
person's doing; a deletion of the gateway's own message is "outbound").

Every one is keyed so that Telegram's replay after a restart (catch-up) reports nothing twice:
an edit changes the stored text (the same text again is no edit), a deletion is recorded
(`message_deletion`), a person's reactions on a message are stored (`inbound_reaction`) and
only a change of them is reported.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.events import append_event, conversation_key
from app.models import (
    InboundGroup,
    InboundMessage,
    InboundReaction,
    Instance,
    Message,
    MessageDeletion,
    Recipient,
)
from app.telegram.port import (
    GroupRef,
    MessageEdited,
    MessagesDeleted,
    ReactionChanged,
    ReactionsListed,
)
from app.timestamps import iso
from app.vocabulary import EventType, MessageStatus, RecipientStatus
from inbound.groups import channel_of, group_conversation, is_allowed

# The gateway's messages whose deletion is reported: those the API sent and Telegram took.
_DELIVERED = (MessageStatus.SENT, MessageStatus.READ)


@dataclass(frozen=True)
class _Where:
    """A conversation: its group (id, title) or none, and the number of the person."""

    group_id: int | None
    group_title: str | None
    number: str | None

    def group(self) -> dict[str, Any] | None:
        if self.group_id is None and self.group_title is None:
            return None
        return {"id": self.group_id, "title": self.group_title}

    def conversation(self, instance: int) -> str | None:
        if self.group_id is not None:
            return group_conversation(instance, self.group_id)
        if self.group_title is not None:
            return conversation_key(instance, group=self.group_title)
        return conversation_key(instance, self.number)


class Changes:
    """Turns one instance's edits, deletions and reactions into events (in the caller's
    transaction)."""

    def __init__(self, session: AsyncSession, instance: int, now: datetime) -> None:
        self.session = session
        self.instance = instance
        self.now = now
        self._phone: list[str | None] = []

    # --- edits ---

    async def edited(self, edit: MessageEdited) -> None:
        """Only a forwarded message's edit is reported, once per new text."""
        row = await self._inbound(channel_of(edit.group), edit.message_id)
        if row is None or row.handling != "forwarded" or row.deleted_at is not None:
            return
        if row.sender_user_id != edit.sender_user_id or (row.text or "") == edit.text:
            return  # someone else's message, or no change (a replay; a reaction's edit date)
        if row.edited_at is not None and edit.edit_date <= row.edited_at:
            return  # an older edit offered again after a newer one
        row.text = edit.text or None
        row.edited_at = edit.edit_date
        where = _Where(row.group_id, row.group_title, row.number)
        data = {
            "id": row.id,
            "telegram_message_id": row.telegram_message_id,
            "direction": "inbound",
            "text": edit.text,
            "edited_at": iso(edit.edit_date),
            "sender": await self._sender(row.sender_user_id, row.number),
            "group": where.group(),
        }
        await self._event(EventType.MESSAGE_EDITED, where, data)

    # --- deletions ---

    async def deleted(self, deletion: MessagesDeleted) -> None:
        """Each deleted message the gateway knows: a person's forwarded one ("inbound"), or
        one the gateway sent ("outbound", as when a person deletes a private chat's history
        for both sides)."""
        channel = channel_of(deletion.group)
        ids = list(dict.fromkeys(deletion.message_ids))
        done = set(
            await self.session.scalars(
                select(col(MessageDeletion.telegram_message_id)).where(
                    col(MessageDeletion.instance) == self.instance,
                    col(MessageDeletion.channel_id) == channel,
                    col(MessageDeletion.telegram_message_id).in_(ids),
                )
            )
        )
        todo = [i for i in ids if i not in done]
        if not todo:
            return
        theirs = await self.session.scalars(
            select(InboundMessage).where(
                col(InboundMessage.instance) == self.instance,
                col(InboundMessage.channel_id) == channel,
                col(InboundMessage.telegram_message_id).in_(todo),
                col(InboundMessage.handling) == "forwarded",
                # Marked deleted already: a replay, even once its deletion record is gone.
                col(InboundMessage.deleted_at).is_(None),
            )
        )
        found: set[int] = set()
        for row in theirs:
            found.add(row.telegram_message_id)
            row.deleted_at = self.now
            where = _Where(row.group_id, row.group_title, row.number)
            await self._deletion(channel, row.telegram_message_id, "inbound", row.id, where)
        ours = await self.session.scalars(
            self._ours(
                [i for i in todo if i not in found],
                deletion.group,
                col(Message.status).in_(_DELIVERED),
                # deleted through the API: that deletion made its own event (outbound/actions.py)
                col(Message.deleted_at).is_(None),
            )
        )
        for message in ours:
            if message.telegram_message_id is None or message.telegram_message_id in found:
                continue
            found.add(message.telegram_message_id)
            where = _Where(None, None, message.to_number)
            if message.group_name is not None:  # Telegram names a megagroup, never a basic one
                group_id = deletion.group.chat_id if deletion.group is not None else None
                where = _Where(group_id, message.group_name, None)
            await self._deletion(
                channel, message.telegram_message_id, "outbound", message.id, where
            )

    async def _deletion(
        self, channel: int, telegram_id: int, direction: str, message_id: str, where: _Where
    ) -> None:
        self.session.add(
            MessageDeletion(
                instance=self.instance,
                channel_id=channel,
                telegram_message_id=telegram_id,
                direction=direction,
                message_id=message_id,
                deleted_at=self.now,
            )
        )
        data = {
            "id": message_id,
            "telegram_message_id": telegram_id,
            "direction": direction,
            "deleted_at": iso(self.now),
            "group": where.group(),
        }
        await self._event(EventType.MESSAGE_DELETED, where, data)

    # --- reactions ---

    async def reacted(self, change: ReactionChanged, configured: Collection[int]) -> None:
        await self._reaction(
            change.message_id, change.user_id, change.emojis, change.date, change.group, configured
        )

    async def listed(self, listing: ReactionsListed, configured: Collection[int]) -> None:
        """Everyone listed, and everyone stored as reacting who is not listed any more."""
        channel = channel_of(listing.group)
        now_set = dict(listing.reactions)
        stored = await self.session.scalars(
            select(InboundReaction).where(
                col(InboundReaction.instance) == self.instance,
                col(InboundReaction.channel_id) == channel,
                col(InboundReaction.telegram_message_id) == listing.message_id,
            )
        )
        gone = [row.user_id for row in stored if row.emojis != "[]" and row.user_id not in now_set]
        for user_id in [*now_set, *gone]:
            emojis = now_set.get(user_id, ())
            await self._reaction(
                listing.message_id, user_id, emojis, listing.date, listing.group, configured
            )

    async def _reaction(
        self,
        message_id: int,
        user_id: int,
        emojis: tuple[str, ...],
        date: datetime,
        group: GroupRef | None,
        configured: Collection[int],
    ) -> None:
        person = await self._recipient(user_id)
        registered = person is not None and person.status == RecipientStatus.REGISTERED
        if not registered and not (group is not None and await self._allowed(group, configured)):
            return  # only registered people's doings, and anyone's in allowed groups
        channel = channel_of(group)
        key = (self.instance, channel, message_id, user_id)
        row = await self.session.get(InboundReaction, key)
        shown = orjson.dumps(list(emojis)).decode()
        if (row.emojis if row is not None else "[]") == shown:
            return  # no change: a replay, or an edit that was not about this person
        if row is None:
            row = InboundReaction(
                instance=self.instance,
                channel_id=channel,
                telegram_message_id=message_id,
                user_id=user_id,
                emojis=shown,
                reacted_at=date,
            )
            self.session.add(row)
        row.emojis, row.reacted_at = shown, date
        number = person.number if person is not None and registered else None
        where = _Where(group.chat_id if group else None, group.title if group else None, number)
        data = {
            "id": await self._message_id(channel, message_id, group),
            "telegram_message_id": message_id,
            "direction": "inbound",
            "emojis": list(emojis),
            "sender": await self._sender(user_id, number),
            "reacted_at": iso(date),
            "group": where.group(),
        }
        await self._event(EventType.MESSAGE_REACTION, where, data)

    async def _allowed(self, group: GroupRef, configured: Collection[int]) -> bool:
        row = await self.session.get(InboundGroup, (self.instance, group.chat_id))
        return is_allowed(group.chat_id, configured, row.allowed if row is not None else None)

    async def _message_id(
        self, channel: int, telegram_id: int, group: GroupRef | None
    ) -> str | None:
        """The gateway's id of the message reacted to: a person's, or one of ours."""
        row = await self._inbound(channel, telegram_id)
        if row is not None:
            return row.id
        ours = await self.session.scalar(self._ours([telegram_id], group).limit(1))
        return ours.id if ours is not None else None

    # --- lookups ---

    def _ours(self, telegram_ids: list[int], group: GroupRef | None, *also: Any) -> Any:
        """The gateway's API messages with these Telegram ids (in a megagroup: sent to it)."""
        where = [
            col(Message.instance) == self.instance,
            col(Message.origin) == "api",
            col(Message.telegram_message_id).in_(telegram_ids),
            *also,
        ]
        if group is not None and group.is_channel:
            where.append(col(Message.group_name) == group.title)
        return select(Message).where(and_(*where))

    async def _inbound(self, channel: int, telegram_id: int) -> InboundMessage | None:
        found: InboundMessage | None = await self.session.scalar(
            select(InboundMessage).where(
                col(InboundMessage.instance) == self.instance,
                col(InboundMessage.channel_id) == channel,
                col(InboundMessage.telegram_message_id) == telegram_id,
            )
        )
        return found

    async def _recipient(self, user_id: int) -> Recipient | None:
        found: Recipient | None = await self.session.scalar(
            select(Recipient).where(
                col(Recipient.instance) == self.instance, col(Recipient.user_id) == user_id
            )
        )
        return found

    async def _sender(self, user_id: int, number: str | None) -> dict[str, Any]:
        """The person as message.received shows them (names as the gateway last saw them)."""
        person = await self._recipient(user_id)
        return {
            "user_id": user_id,
            "first_name": person.first_name if person else None,
            "last_name": person.last_name if person else None,
            "username": person.username if person else None,
            "number": number,
        }

    async def _event(self, type_: EventType, where: _Where, data: dict[str, Any]) -> None:
        if not self._phone:
            inst = await self.session.get(Instance, self.instance)
            self._phone.append(inst.phone if inst else None)
        await append_event(
            self.session,
            type_,
            now=self.now,
            instance=self.instance,
            number=where.number,
            gateway_number=self._phone[0],
            data=data,
            conversation=where.conversation(self.instance),
        )
