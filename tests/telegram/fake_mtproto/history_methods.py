"""messages.getHistory as Telegram answers a long private chat: messages.messagesSlice (a page,
and `count`, the chat's whole length), newest first from `offset_id`; and messages that reach
the account's box without an update to the gateway (written from the phone, or before the
gateway ran), which only the history shows.

Registered in `Methods` (methods.py) by request class name. Use `unseen_message(fake, ...)` in
tests; `fake.requests_of("GetHistoryRequest")` lists the pages asked for.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from .tl import make, now
from .world import FakeUser, Group, peer_key

if TYPE_CHECKING:
    from .methods import Call, Handler, Methods
    from .server import FakeTelegram


def get_history(methods: Methods, call: Call, request: Any) -> Any:
    account = call.account
    box = methods.world.box(account)
    target = methods.world.resolve_peer(request.peer, account)
    key = -target.chat_id if isinstance(target, Group) else target.user_id
    history = sorted(
        (m for m in box.messages.values() if peer_key(m.peer_id) == key),
        key=lambda m: m.id,
        reverse=True,
    )
    start = 0
    if request.offset_id:
        start = next((i for i, m in enumerate(history) if m.id < request.offset_id), len(history))
    start = max(0, start + request.add_offset)
    page = history[start : start + max(0, min(request.limit, 100))]
    page = [
        m for m in page if m.id > request.min_id and (not request.max_id or m.id < request.max_id)
    ]
    users, chats = methods._peers_users_chats(call, page)
    return make(
        types.messages.MessagesSlice,
        count=len(history),
        messages=page,
        chats=chats,
        users=users,
    )


def handlers(methods: Methods) -> dict[str, Handler]:
    """The methods of this module, by Telethon's request class name (private: need a login)."""
    return {"GetHistoryRequest": lambda call, request: get_history(methods, call, request)}


def unseen_message(
    fake: FakeTelegram,
    account: FakeUser,
    person: FakeUser,
    text: str = "",
    *,
    out: bool,
    media: Any = None,
    date: dt.datetime | None = None,
) -> int:
    """A message of the private chat with `person` that makes no update: the account wrote it
    from the phone (`out`), or the person wrote it before the gateway ran. Returns its id."""
    box = fake.world.box(account)
    message_id = box.next_message_id()
    box.messages[message_id] = make(
        types.Message,
        id=message_id,
        peer_id=types.PeerUser(person.user_id),
        date=date or now(),
        message=text,
        out=out or None,
        from_id=None,
        media=media,
    )
    return message_id
