"""What goes through the port besides calls: peers, the messages the gateway sends, and the
messages and changes (edits, deletions, reactions, read marks) that Telegram reports.

Plain dataclasses; `app/telegram/port.py` re-exports them, so the rest of the code imports
them from the port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

MediaKind = Literal["image", "document", "audio", "voice_note", "video", "sticker"]
# The kinds of the WhatsMate surfaces (v3, v1): their body fields are named after them.
MEDIA_KINDS: tuple[MediaKind, ...] = ("image", "document", "audio", "voice_note")
# Every kind of file the native surface sends and inbound messages carry.
ALL_MEDIA_KINDS: tuple[MediaKind, ...] = (*MEDIA_KINDS, "video", "sticker")
# Telegram's service account (login codes) is never answered.
SERVICE_USER_ID = 777000


# --- peers ---


@dataclass(frozen=True)
class UserPeer:
    """A person, as stored at registration (Telethon: InputPeerUser)."""

    user_id: int
    access_hash: int | None


@dataclass(frozen=True)
class GroupPeer:
    """A group the account is a member of (basic chat or megagroup)."""

    chat_id: int
    access_hash: int | None = None
    is_channel: bool = False


Peer = UserPeer | GroupPeer


@dataclass(frozen=True)
class GroupRef:
    """The group an incoming message, edit, deletion or reaction happened in."""

    chat_id: int
    title: str
    access_hash: int | None = None
    is_channel: bool = False

    def peer(self) -> GroupPeer:
        return GroupPeer(self.chat_id, self.access_hash, self.is_channel)


# --- outgoing ---


@dataclass(frozen=True)
class AudioInfo:
    """What Telegram shows of an audio file or voice note (DocumentAttributeAudio).

    `waveform` is the voice note's 100 levels, 0..31, one per byte (voice notes only); the
    Telethon backend packs them into Telegram's 5-bit form."""

    duration_s: int
    waveform: bytes | None = None
    title: str | None = None
    performer: str | None = None


@dataclass(frozen=True)
class VideoInfo:
    """DocumentAttributeVideo: lets Telegram show a player instead of a file."""

    duration_s: float
    width: int
    height: int


@dataclass(frozen=True)
class OutgoingMedia:
    kind: MediaKind
    data: bytes
    filename: str
    mime_type: str
    audio: AudioInfo | None = None
    video: VideoInfo | None = None


@dataclass(frozen=True)
class Location:
    """A point on the map; with a title (and address) Telegram shows it as a venue."""

    latitude: float
    longitude: float
    title: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class ContactCard:
    """A contact card to send (InputMediaContact)."""

    phone: str
    first_name: str
    last_name: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send: text, or a medium (with caption), or a location, or a contact."""

    peer: Peer
    random_id: int
    text: str | None = None
    media: OutgoingMedia | None = None
    caption: str | None = None
    reply_to_message_id: int | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    # No notification sound for the person.
    silent: bool = False
    # Telegram's preview of the first link in a text.
    link_preview: bool = True


ChatAction = Literal["typing", "upload_photo", "upload_document", "upload_audio", "upload_video"]

# What a person's standing says about messaging them (users.getRequirementsToContact, and what
# earlier sends learned): "ok", or why a message would not reach them.
Reachability = Literal[
    "ok", "blocked", "deactivated", "premium_required", "paid_messages_required", "unknown"
]


@dataclass(frozen=True)
class SentMessage:
    message_id: int
    date: datetime


# --- incoming ---


@dataclass(frozen=True)
class Sender:
    user_id: int
    access_hash: int | None
    phone: str | None  # None unless the person's privacy settings show it
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    is_bot: bool = False


@dataclass(frozen=True)
class SharedContact:
    """A contact card (MessageMediaContact). `user_id` is 0 when the number has no account."""

    phone: str
    user_id: int
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class IncomingMedia:
    kind: MediaKind
    data: bytes
    filename: str | None
    mime_type: str | None


@dataclass(frozen=True)
class IncomingMessage:
    """A message a person sent to the account: privately, or in a group it is in (`group`)."""

    message_id: int
    date: datetime
    sender: Sender
    text: str = ""
    contact: SharedContact | None = None
    media: IncomingMedia | None = None
    reply_to_message_id: int | None = None
    group: GroupRef | None = None
    # The message mentions the account (@username, a mention entity, or a reply to it).
    mentioned: bool = False
    location: Location | None = None


@dataclass(frozen=True)
class MessageEdited:
    """A person edited a message they sent (privately or in `group`): its new text/caption."""

    message_id: int
    edit_date: datetime
    sender_user_id: int
    text: str
    group: GroupRef | None = None


@dataclass(frozen=True)
class MessagesDeleted:
    """Messages were deleted for the account. Telegram names only the ids (and, in channels and
    megagroups, the group): the receiver finds whose they were."""

    message_ids: tuple[int, ...]
    group: GroupRef | None = None


@dataclass(frozen=True)
class ReactionChanged:
    """`user_id` set their reactions on message `message_id` (the account's own message or
    one it received) to `emojis`; empty: they took their reaction back."""

    message_id: int
    user_id: int
    emojis: tuple[str, ...]
    date: datetime
    group: GroupRef | None = None


@dataclass(frozen=True)
class ReactionsListed:
    """Who reacts with what on group message `message_id` now, as Telegram lists it
    (updateMessageReactions' recent reactions, the account's own left out): a person the
    gateway knew to react who is not listed took their reaction back."""

    message_id: int
    reactions: tuple[tuple[int, tuple[str, ...]], ...]  # (user id, emojis)
    date: datetime
    group: GroupRef


# --- history (messages.getHistory) ---

# What a message of the history holds: text, a file (MediaKind), a point, a contact card, or
# something else (a service message, a poll, a game...) the gateway does not read.
HistoryKind = Literal[
    "text",
    "image",
    "document",
    "audio",
    "voice_note",
    "video",
    "sticker",
    "location",
    "contact",
    "other",
]
HISTORY_KINDS: tuple[str, ...] = get_args(HistoryKind)
# The most messages one history call returns (Telegram's own cap for messages.getHistory).
HISTORY_PAGE_MAX = 100


@dataclass(frozen=True)
class HistoryItem:
    """One message of a private chat as Telegram keeps it: the account's own (`outgoing`: sent
    by the gateway or from the phone) or the person's. A file is described, never downloaded;
    `text` is a file's caption."""

    message_id: int
    date: datetime
    outgoing: bool
    kind: HistoryKind = "text"
    text: str = ""
    filename: str | None = None
    mime_type: str | None = None
    size: int | None = None
    reply_to_message_id: int | None = None


@dataclass(frozen=True)
class OutboxRead:
    """The person `user_id` read our messages up to and including `max_id`."""

    user_id: int
    max_id: int
