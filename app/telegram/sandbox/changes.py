"""What people do in the sandbox besides writing (admin endpoints): writing in a group, editing
and deleting their messages, reacting. Each change is stored as Telegram would hold it and
pushed as an update, which the pump turns into the port's (`change_update`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlmodel import col

from app.db import transaction
from app.telegram.port import (
    GroupRef,
    MessageEdited,
    MessagesDeleted,
    ReactionChanged,
    Update,
)
from app.telegram.sandbox.state import SandboxInputError, SandboxState
from app.telegram.sandbox.tables import SandboxGroup, SandboxMessage, SandboxUpdate
from app.telegram.sandbox.tables import SandboxUser as SandboxUserRow

# Telegram's message ids per delete request (messages.deleteMessages takes up to 100).
MAX_DELETE_IDS = 100


class ChangesMixin(SandboxState):
    """The sandbox's controls for a person's group messages, edits, deletions and reactions."""

    async def group_member(self, group_name: str, group_admin: str, number: str) -> int:
        """The chat id of the sandbox group (title, creator) in which `number` may write."""
        async with transaction(self._factory) as session:
            group: SandboxGroup | None = await session.scalar(
                select(SandboxGroup).where(
                    col(SandboxGroup.instance) == self.instance,
                    col(SandboxGroup.group_name) == group_name,
                    col(SandboxGroup.group_admin) == group_admin,
                )
            )
        if group is None:
            raise SandboxInputError(
                f"no sandbox group {group_name!r} made by {group_admin}:"
                " make it with POST /admin/sandbox/{n}/groups"
            )
        members = {group.group_admin, *orjson.loads(group.members)}
        if number not in members:
            raise SandboxInputError(f"{number} is not a member of the group {group_name!r}")
        return group.chat_id

    async def person_edits(self, number: str, message_id: int, text: str) -> int:
        """`number` edits a message they wrote; the update's id."""
        async with transaction(self._factory) as session:
            user = await self._person(session, number)
            message = await self._person_message(session, message_id)
            if message.direction != "in" or message.user_id != user.user_id:
                raise SandboxInputError(f"message {message_id} was not written by {number}")
            if message.kind in ("text", "contact"):
                message.text = text
            else:
                message.caption = text
            message.edited_at = self._clock()
            update_id = await self._push(session, type="edit", message_id=message_id)
        self._wakeup.notify(self._topic)  # the pump looks now that it is committed
        return update_id

    async def person_deletes(self, number: str, message_ids: list[int]) -> int:
        """`number` deletes messages for everyone: their own, or in their private chat with
        the account the account's too (as when a person clears the history for both sides).
        One update per message; the id of the last."""
        if not message_ids:
            raise SandboxInputError("message_ids is empty")
        async with transaction(self._factory) as session:
            user = await self._person(session, number)
            now = self._clock()
            last = 0
            for message_id in dict.fromkeys(message_ids):
                message = await self._person_message(session, message_id)
                own = message.direction == "in" and message.user_id == user.user_id
                private_ours = (
                    message.direction == "out"
                    and message.chat_id is None
                    and message.user_id == user.user_id
                )
                if not (own or private_ours):
                    raise SandboxInputError(f"{number} cannot delete message {message_id}")
                message.deleted_at = now
                last = await self._push(session, type="delete", message_id=message_id)
        self._wakeup.notify(self._topic)
        return last

    async def person_reacts(self, number: str, message_id: int, emoji: str | None) -> int:
        """`number` sets their reaction on a message of a chat they are in (None: takes it
        back); the update's id."""
        async with transaction(self._factory) as session:
            user = await self._person(session, number)
            message = await self._person_message(session, message_id)
            if message.chat_id is not None:
                group = await session.scalar(
                    select(SandboxGroup).where(
                        col(SandboxGroup.instance) == self.instance,
                        col(SandboxGroup.chat_id) == message.chat_id,
                    )
                )
                members = set(orjson.loads(group.members)) | {group.group_admin} if group else set()
                if number not in members:
                    raise SandboxInputError(f"{number} is not in the chat of message {message_id}")
            elif message.user_id != user.user_id:
                raise SandboxInputError(f"message {message_id} is not in {number}'s chat")
            update_id = await self._push(
                session, type="reaction", message_id=message_id, user_id=user.user_id, emoji=emoji
            )
        self._wakeup.notify(self._topic)
        return update_id

    async def _person(self, session: Any, number: str) -> SandboxUserRow:
        user: SandboxUserRow | None = await session.scalar(
            select(SandboxUserRow).where(
                and_(
                    col(SandboxUserRow.instance) == self.instance,
                    col(SandboxUserRow.number) == number,
                )
            )
        )
        if user is None:
            raise SandboxInputError(f"no sandbox person with number {number}")
        return user

    async def _person_message(self, session: Any, message_id: int) -> SandboxMessage:
        message: SandboxMessage | None = await session.scalar(
            select(SandboxMessage).where(
                col(SandboxMessage.instance) == self.instance,
                col(SandboxMessage.message_id) == message_id,
            )
        )
        if message is None or message.deleted_at is not None:
            raise SandboxInputError(f"no message {message_id} in the sandbox")
        return message

    async def _push(self, session: Any, **values: Any) -> int:
        update = SandboxUpdate(instance=self.instance, **values)
        session.add(update)
        await session.flush()
        return update.id or 0


def change_update(row: Any, group: GroupRef | None, now: datetime) -> Update | None:
    """An edit, deletion or reaction row of the pump's read as the port's update (`group`: the
    group of the message, if any). Sandbox groups are basic groups: Telegram names no chat
    when their messages are deleted, as in private chats."""
    if row.type == "delete":
        return MessagesDeleted(message_ids=(int(row.message_id),))
    if row.message_id is None or row.kind is None:
        return None  # the message is gone
    if row.type == "edit":
        return MessageEdited(
            message_id=int(row.message_id),
            edit_date=row.edited_at or row.sent_at,
            sender_user_id=int(row.sender_id or 0),
            text=row.text or row.caption or "",
            group=group,
        )
    emojis = (row.emoji,) if row.emoji else ()
    return ReactionChanged(
        message_id=int(row.message_id),
        user_id=int(row.read_user_id or 0),
        emojis=emojis,
        date=now,
        group=group,
    )
