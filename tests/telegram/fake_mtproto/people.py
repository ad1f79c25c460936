"""What people do on the fake Telegram besides writing privately: post in a basic group, edit,
delete, react; each pushed to the account's connections as the real TL updates (and kept in the
account's update log where Telegram keeps it, for updates.getDifference).

    post_in_group(fake, person, account, chat_id, "hello", mentioned=True)
    edit(fake, person, account, message_id, "new text")
    delete(fake, account, [message_id])
    react_privately(fake, person, account, message_id, "👍")   # an UpdateEditMessage
    react_in_group(fake, person, account, chat_id, message_id, "🔥")  # UpdateMessageReactions
    replay(fake, account, update)  # the same update again, at a new pts
    channel_id = add_megagroup(fake, "Riders", [person, account])  # and *_in_megagroup(...)

Megagroups are pushed live only (no channels.getChannelDifference here).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from telethon.tl import types

from .server import FakeTelegram
from .tl import make, now
from .world import BoxEvent, FakeUser


def post_in_group(
    fake: FakeTelegram,
    person: FakeUser,
    account: FakeUser,
    chat_id: int,
    text: str,
    *,
    reply_to: int | None = None,
    mentioned: bool = False,
) -> int:
    """`person` writes in basic group `chat_id` (the account is a member); the message id."""
    world = fake.world
    group = world.groups[chat_id]
    if person not in group.members or account not in group.members:
        raise ValueError("both must be members of the group")
    box = world.box(account)
    message, pts = world.new_message(
        box,
        peer=types.PeerChat(chat_id),
        from_id=types.PeerUser(person.user_id),
        out=False,
        text=text,
        reply_to=reply_to,
    )
    message.mentioned = mentioned or None
    fake.push_to_account(account, world.updates_for(box, [types.UpdateNewMessage(message, pts, 1)]))
    return int(message.id)


def edit(
    fake: FakeTelegram, person: FakeUser, account: FakeUser, message_id: int, text: str
) -> Any:
    """`person` edits their message, private or in a group (UpdateEditMessage); the update."""
    world = fake.world
    box = world.box(account)
    message = box.messages[message_id]
    author = message.from_id if isinstance(message.peer_id, types.PeerChat) else message.peer_id
    if message.out or author != types.PeerUser(person.user_id):
        raise ValueError(f"message {message_id} is not from {person.first_name}")
    message, pts = world.edit_message(box, message_id, text)
    update = types.UpdateEditMessage(message, pts, 1)
    fake.push_to_account(account, world.updates_for(box, [update]))
    return update


def delete(fake: FakeTelegram, account: FakeUser, message_ids: list[int]) -> Any:
    """Messages of the account's box deleted for everyone (UpdateDeleteMessages: ids only)."""
    box = fake.world.box(account)
    box.pts += len(message_ids)
    update = types.UpdateDeleteMessages(list(message_ids), box.pts, len(message_ids))
    box.events.append(BoxEvent(pts=box.pts, kind="delete", update=update))
    fake.push_to_account(account, fake.world.updates_for(box, [update]))
    return update


def _reactions(recent: list[Any]) -> Any:
    counts: dict[str, int] = {}
    for entry in recent:
        counts[entry.reaction.emoticon] = counts.get(entry.reaction.emoticon, 0) + 1
    results = [
        make(types.ReactionCount, reaction=types.ReactionEmoji(e), count=n)
        for e, n in counts.items()
    ]
    return make(types.MessageReactions, results=results, recent_reactions=recent, can_see_list=True)


def _set_reaction(message: Any, person: FakeUser, emoji: str | None) -> Any:
    """The message's reactions with `person`'s replaced by `emoji` (None: taken back)."""
    old = message.reactions.recent_reactions if message.reactions is not None else None
    recent = [r for r in old or [] if r.peer_id != types.PeerUser(person.user_id)]
    if emoji is not None:
        recent.append(
            make(
                types.MessagePeerReaction,
                peer_id=types.PeerUser(person.user_id),
                date=now(),
                reaction=types.ReactionEmoji(emoji),
            )
        )
    message.reactions = _reactions(recent)
    return message.reactions


def react_privately(
    fake: FakeTelegram, person: FakeUser, account: FakeUser, message_id: int, emoji: str | None
) -> Any:
    """`person` reacts in their private chat with the account: Telegram says so with an
    UpdateEditMessage whose edit_date did not move; the update."""
    world = fake.world
    box = world.box(account)
    message = box.messages[message_id]
    if message.peer_id != types.PeerUser(person.user_id):
        raise ValueError(f"message {message_id} is not in {person.first_name}'s chat")
    _set_reaction(message, person, emoji)
    pts = box.next_pts()
    box.events.append(BoxEvent(pts=pts, kind="edit", message_id=message_id))
    update = types.UpdateEditMessage(message, pts, 1)
    fake.push_to_account(account, world.updates_for(box, [update]))
    return update


def react_in_group(
    fake: FakeTelegram,
    person: FakeUser,
    account: FakeUser,
    chat_id: int,
    message_id: int,
    emoji: str | None,
) -> Any:
    """`person` reacts to a group message: UpdateMessageReactions with the recent reactors
    (no pts: Telegram does not log it for getDifference either); the update."""
    world = fake.world
    box = world.box(account)
    message = box.messages[message_id]
    reactions = _set_reaction(message, person, emoji)
    update = types.UpdateMessageReactions(
        peer=types.PeerChat(chat_id), msg_id=message_id, reactions=reactions
    )
    fake.push_to_account(account, world.updates_for(box, [update]))
    return update


def replay(fake: FakeTelegram, account: FakeUser, update: Any) -> None:
    """Push `update` again at a new pts: to the gateway, the same change a second time (as
    after a restart that had not saved the update state)."""
    box = fake.world.box(account)
    count = int(getattr(update, "pts_count", 1))
    box.pts += count
    copy = _with_pts(update, box.pts)
    box.events.append(BoxEvent(pts=box.pts, kind="replay", update=copy))
    fake.push_to_account(account, fake.world.updates_for(box, [copy]))


def _with_pts(update: Any, pts: int) -> Any:
    fields = {name: getattr(update, name) for name in update.to_dict() if name != "_"}
    fields["pts"] = pts
    return type(update)(**fields)


# --- megagroups (channels): each numbers its own messages and keeps its own pts ---


@dataclass
class Megagroup:
    channel_id: int
    access_hash: int
    title: str
    members: list[FakeUser]
    pts: int = 1
    last_message_id: int = 0
    messages: dict[int, Any] = field(default_factory=dict)
    date: Any = field(default_factory=now)


_MEGAGROUPS: WeakKeyDictionary[FakeTelegram, dict[int, Megagroup]] = WeakKeyDictionary()
_CHANNEL_IDS = itertools.count(1_700_000_001)


def add_megagroup(fake: FakeTelegram, title: str, members: list[FakeUser]) -> int:
    """A megagroup with these members (the account among them); its channel id."""
    group = Megagroup(next(_CHANNEL_IDS), secrets.randbits(63), title, list(members))
    _MEGAGROUPS.setdefault(fake, {})[group.channel_id] = group
    return group.channel_id


def _channel_view(group: Megagroup) -> Any:
    return make(
        types.Channel,
        id=group.channel_id,
        title=group.title,
        photo=types.ChatPhotoEmpty(),
        date=group.date,
        megagroup=True,
        access_hash=group.access_hash,
        participants_count=len(group.members),
    )


def _push_channel(fake: FakeTelegram, account: FakeUser, group: Megagroup, update: Any) -> None:
    users = [fake.world.user_view(m, account) for m in group.members]
    updates = types.Updates(
        updates=[update], users=users, chats=[_channel_view(group)], date=now(), seq=0
    )
    fake.push_to_account(account, updates)


def _megagroup(fake: FakeTelegram, channel_id: int) -> Megagroup:
    return _MEGAGROUPS[fake][channel_id]


def post_in_megagroup(
    fake: FakeTelegram, person: FakeUser, account: FakeUser, channel_id: int, text: str
) -> int:
    """`person` writes in the megagroup (UpdateNewChannelMessage); the channel's message id."""
    group = _megagroup(fake, channel_id)
    group.last_message_id += 1
    group.pts += 1
    message = make(
        types.Message,
        id=group.last_message_id,
        peer_id=types.PeerChannel(channel_id),
        date=now(),
        message=text,
        from_id=types.PeerUser(person.user_id),
    )
    group.messages[message.id] = message
    _push_channel(fake, account, group, types.UpdateNewChannelMessage(message, group.pts, 1))
    return int(message.id)


def edit_in_megagroup(
    fake: FakeTelegram, account: FakeUser, channel_id: int, message_id: int, text: str
) -> None:
    group = _megagroup(fake, channel_id)
    message = group.messages[message_id]
    message.message = text
    message.edit_date = now()
    group.pts += 1
    _push_channel(fake, account, group, types.UpdateEditChannelMessage(message, group.pts, 1))


def delete_in_megagroup(
    fake: FakeTelegram, account: FakeUser, channel_id: int, message_ids: list[int]
) -> None:
    group = _megagroup(fake, channel_id)
    group.pts += len(message_ids)
    update = types.UpdateDeleteChannelMessages(
        channel_id, list(message_ids), group.pts, len(message_ids)
    )
    _push_channel(fake, account, group, update)


def react_in_megagroup(
    fake: FakeTelegram,
    person: FakeUser,
    account: FakeUser,
    channel_id: int,
    message_id: int,
    emoji: str | None,
) -> None:
    group = _megagroup(fake, channel_id)
    reactions = _set_reaction(group.messages[message_id], person, emoji)
    update = types.UpdateMessageReactions(
        peer=types.PeerChannel(channel_id), msg_id=message_id, reactions=reactions
    )
    _push_channel(fake, account, group, update)
