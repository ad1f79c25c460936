"""messages.editMessage, messages.deleteMessages and messages.sendReaction, as the fake answers
them, and what the person on the other side sees of the account's messages afterwards.

Registered in `Methods` (methods.py) by request class name. channels.deleteMessages has the same
class name as messages.deleteMessages: the fake has no channels, so it is refused
(CHANNEL_INVALID). Use `actions_of(fake).view(account, message_id)` in tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from .tl import RpcFail, now, utf16_len
from .world import FakeUser, Group

if TYPE_CHECKING:
    from .methods import Call, Handler
    from .server import FakeTelegram

EDIT_WINDOW = dt.timedelta(hours=48)
MESSAGE_LENGTH_MAX = 4096


@dataclass
class PersonView:
    """One message of the account as the person sees it now."""

    text: str
    edits: list[str] = field(default_factory=list)
    deleted: bool = False
    # The account's reaction on it (Telegram's emoticons), empty when none.
    reactions: list[str] = field(default_factory=list)


class ActionMethods:
    def __init__(self, server: FakeTelegram) -> None:
        self.server = server
        self.world = server.world
        # (account user id, message id in the account's box) -> what the person sees
        self.views: dict[tuple[int, int], PersonView] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "EditMessageRequest": self.edit_message,
            "DeleteMessagesRequest": self.delete_messages,
            "SendReactionRequest": self.send_reaction,
        }

    def view(self, account: FakeUser, message_id: int) -> PersonView:
        """What the person sees of message `message_id` of `account`'s box."""
        key = (account.user_id, message_id)
        if key not in self.views:
            message = self.world.box(account).messages[message_id]
            self.views[key] = PersonView(text=message.message or "")
        return self.views[key]

    def _message(self, call: Call, peer: Any, message_id: int, *, own: bool) -> Any:
        """The message of the chat `peer` in the caller's box; MESSAGE_ID_INVALID when it is
        not there (never was, another chat's, deleted)."""
        account = call.account
        target = self.world.resolve_peer(peer, account)
        chat = (
            types.PeerChat(target.chat_id)
            if isinstance(target, Group)
            else types.PeerUser(target.user_id)
        )
        message = self.world.box(account).messages.get(message_id)
        if (
            message is None
            or message.peer_id != chat
            or (own and not message.out)
            or self.view(account, message_id).deleted
        ):
            raise RpcFail("MESSAGE_ID_INVALID")
        return message

    def edit_message(self, call: Call, request: Any) -> Any:
        message = self._message(call, request.peer, int(request.id), own=True)
        text = request.message or ""
        if utf16_len(text) > MESSAGE_LENGTH_MAX:
            raise RpcFail("MESSAGE_TOO_LONG")
        if now() - message.date >= EDIT_WINDOW:
            raise RpcFail("MESSAGE_EDIT_TIME_EXPIRED")
        if text == (message.message or ""):
            raise RpcFail("MESSAGE_NOT_MODIFIED")
        account = call.account
        box = self.world.box(account)
        view = self.view(account, message.id)
        edited, pts = self.world.edit_message(box, message.id, text)
        view.text = text
        view.edits.append(text)
        update = types.UpdateEditMessage(edited, pts, 1)
        self.server.push_to_account(
            account, self.world.updates_for(box, [update]), exclude=call.conn
        )
        return self.world.updates_for(box, [update])

    def delete_messages(self, call: Call, request: Any) -> Any:
        if hasattr(request, "channel"):  # channels.deleteMessages: the fake has no channels
            raise RpcFail("CHANNEL_INVALID")
        account = call.account
        box = self.world.box(account)
        for message_id in request.id:
            message = box.messages.get(int(message_id))
            view = self.view(account, int(message_id)) if message is not None else None
            if view is None or view.deleted:
                continue  # what is not there is skipped, as Telegram does
            if not request.revoke and message.out:
                continue  # for the account alone: the person still sees it
            view.deleted = True
        # No update in the box's log: the gateway's own deletion needs none (pts_count 0).
        return types.messages.AffectedMessages(pts=box.pts, pts_count=0)

    def send_reaction(self, call: Call, request: Any) -> Any:
        message = self._message(call, request.peer, int(request.msg_id), own=False)
        emoticons = []
        for reaction in request.reaction or []:
            if not isinstance(reaction, types.ReactionEmoji):
                raise RpcFail("REACTION_INVALID")
            emoticons.append(reaction.emoticon)
        account = call.account
        self.view(account, message.id).reactions = emoticons
        return self.world.updates_for(self.world.box(account), [])


def actions_of(fake: FakeTelegram) -> ActionMethods:
    """The fake's edits, deletions and reactions (what the person sees)."""
    actions: ActionMethods = fake._methods.actions
    return actions
