"""The small interface between the gateway and a Telegram account.

Shaped after Telethon's model (reference/telethon-notes.md): people are reached through a stored
`(user_id, access_hash)` pair, never by re-resolving a phone number; every send carries a
caller-chosen `random_id`; updates arrive through one callback, in order, and may be replayed
after a restart (catch-up), so the receiver deduplicates by message id. Telegram types never
cross this boundary: backends convert them into these dataclasses and this error tree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.telegram.errors import (
    RECIPIENT_ERRORS,
    AccountBanned,
    AccountDeactivated,
    AccountFrozen,
    AlreadySent,
    AuthorizationNotFound,
    CurrentAuthorization,
    EditWindowExpired,
    FloodWait,
    FreshResetForbidden,
    GroupNotFound,
    LoginError,
    LoginErrorCode,
    MessageGone,
    MessageRejected,
    NotLoggedIn,
    PaidMessagesRequired,
    PeerFlood,
    PeerInvalid,
    PremiumRequired,
    PrivacyRestricted,
    RecipientError,
    SessionRevoked,
    SpamBotSilent,
    SpamBotUnclear,
    TelegramError,
    TransientError,
    UserBlocked,
    UserDeactivated,
)

# The error tree is part of the port: every backend raises it, every caller catches it.
__all__ = [
    "RECIPIENT_ERRORS",
    "AccountBanned",
    "AccountDeactivated",
    "AccountFrozen",
    "AlreadySent",
    "AuthorizationNotFound",
    "CurrentAuthorization",
    "EditWindowExpired",
    "FloodWait",
    "FreshResetForbidden",
    "GroupNotFound",
    "LoginError",
    "LoginErrorCode",
    "MessageGone",
    "MessageRejected",
    "NotLoggedIn",
    "PaidMessagesRequired",
    "PeerFlood",
    "PeerInvalid",
    "PremiumRequired",
    "PrivacyRestricted",
    "RecipientError",
    "SessionRevoked",
    "SpamBotSilent",
    "SpamBotUnclear",
    "TelegramError",
    "TransientError",
    "UserBlocked",
    "UserDeactivated",
]


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


@dataclass(frozen=True)
class OutboxRead:
    """The person `user_id` read our messages up to and including `max_id`."""

    user_id: int
    max_id: int


InstanceState = Literal["ready", "disconnected", "revoked", "banned", "deactivated", "logged_out"]


@dataclass(frozen=True)
class ConnectionChanged:
    state: InstanceState
    detail: str | None = None


LoginAlertSource = Literal["update", "service_notice"]


@dataclass(frozen=True)
class LoginAlert:
    """Someone logged in to the account from another device.

    Telegram says so twice: with updateNewAuthorization (`source="update"`: it carries the new
    session's `hash`; `unconfirmed` while the login awaits confirmation from another session)
    and with a "New login" message from its service account 777000 (`source="service_notice"`:
    its `text`, with `device` and `location` read from it, and its `message_id`). The receiver
    makes one alert of the two (inbound/login_alerts.py).
    """

    source: LoginAlertSource
    date: datetime
    hash: int | None = None
    device: str | None = None
    location: str | None = None
    unconfirmed: bool | None = None  # None: not known (the notice does not say)
    text: str | None = None
    message_id: int | None = None


Update = (
    IncomingMessage
    | OutboxRead
    | ConnectionChanged
    | LoginAlert
    | MessageEdited
    | MessagesDeleted
    | ReactionChanged
    | ReactionsListed
)
# Takes one update or several, in order: a backend that reads a burst at once hands it over
# whole, so that the receiver can store it in one unit of work.
UpdateHandler = Callable[[Sequence[Update]], Awaitable[None]]


@dataclass(frozen=True)
class Account:
    user_id: int
    phone: str | None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class SessionFence(Protocol):
    """What shows that this process holds the instance's session (the lease, app/lease.py).

    While `valid()` is false the backend must not open a connection; `guard(session)` raises
    unless the lease is still held, inside the transaction of a write only the holder may make
    (the session snapshot, login and logout).
    """

    def valid(self) -> bool: ...

    async def guard(self, session: Any) -> None: ...


@dataclass(frozen=True)
class Authorization:
    """One logged-in session of the account (Telegram's account.getAuthorizations).

    `hash` names it for `end_authorization`; `current` is the gateway's own session.
    """

    hash: int
    current: bool
    device_model: str
    platform: str
    system_version: str
    app_name: str
    app_version: str
    ip: str
    country: str
    region: str
    date_created: datetime | None
    date_active: datetime | None
    official_app: bool = False
    password_pending: bool = False


SpamCondition = Literal["ok", "restricted", "frozen"]


@dataclass(frozen=True)
class SpamCheck:
    """The account's standing as Telegram's @SpamBot tells it (app/telegram/spambot.py reads it).

    `reply` is the bot's own words; `until` is when a limit ends, where the reply says so.
    """

    condition: SpamCondition
    reply: str
    until: datetime | None = None


class TelegramBackend(Protocol):
    """One Telegram user account (one instance)."""

    async def start(self, on_update: UpdateHandler, *, fence: SessionFence | None = None) -> None:
        """Connect and begin delivering updates (missed ones first) to `on_update`.

        Updates count as handled once `on_update` returns; when it raised, they are offered
        again later, so `on_update` must be idempotent. Without a fence (tools that hold the
        lease themselves, tests) nothing is fenced.
        """

    async def stop(self) -> None: ...

    async def me(self) -> Account | None:
        """The logged-in account, or None when no one is logged in."""

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Send once. Raises AlreadySent when `random_id` was used before (a retry)."""

    async def edit(self, peer: Peer, message_id: int, text: str, *, caption: bool) -> datetime:
        """Change the text (or, `caption`, a medium's caption) of a message the account sent;
        returns Telegram's edit date. Raises EditWindowExpired past Telegram's window,
        MessageGone when the message no longer exists."""

    async def delete(self, peer: Peer, message_ids: Sequence[int]) -> None:
        """Delete messages the account sent, for both sides (revoke)."""

    async def react(self, peer: Peer, message_id: int, emoji: str | None) -> None:
        """Set the account's reaction on a message (None: take it back)."""

    async def show_action(self, peer: Peer, action: ChatAction | None) -> None:
        """Show "typing"/"sending a file" to the person (None: stop showing it)."""

    async def read_inbox(self, peer: Peer, max_message_id: int) -> None:
        """Mark the person's messages up to `max_message_id` read."""

    async def reachability(self, peers: Sequence[UserPeer]) -> dict[int, Reachability]:
        """What Telegram says of messaging each person (by user id), for a batch at once."""

    async def resolve_group(self, group_name: str, admin_number: str) -> GroupPeer:
        """A group the account is in, by title and the creator's number.

        `admin_number` "" (the legacy v1 group sends name no creator): by title alone, which
        must then name exactly one group (else GroupNotFound says so)."""

    def new_login(self) -> LoginFlow:
        """A login attempt for this instance (code, 2FA password or QR)."""

    async def login_completed(self) -> None:
        """A login flow of this backend succeeded: take the new session into service."""

    async def log_out(self) -> None:
        """End the session (at Telegram too) and forget it."""

    async def get_profile(self) -> Profile | None:
        """The account's profile as Telegram shows it; None when not logged in."""

    async def set_profile(self, first_name: str, last_name: str | None, about: str | None) -> None:
        """Change the account's name and bio."""

    async def set_photo(self, jpeg: bytes) -> None:
        """Make `jpeg` the profile picture, replacing the previous ones."""

    async def list_authorizations(self) -> list[Authorization]:
        """The account's logged-in sessions, the gateway's own (`current`) first."""

    async def end_authorization(self, hash: int) -> None:
        """End another session of the account. Raises CurrentAuthorization for the gateway's
        own (log_out ends that), AuthorizationNotFound for a hash the account does not have."""

    async def check_restrictions(self) -> SpamCheck:
        """Ask @SpamBot whether the account is limited ("/start", then its reply). Raises
        SpamBotSilent when no reply comes in time, SpamBotUnclear when the reply says
        neither "not limited" nor "limited" nor "frozen" in words the gateway knows."""


# --- logging an account in (terminal now, admin API later) ---

LoginStepName = Literal["code_sent", "password_needed", "awaiting_qr", "ready"]


@dataclass(frozen=True)
class LoginStep:
    step: LoginStepName
    account: Account | None = None
    qr_url: str | None = None
    expires_at: datetime | None = None
    password_hint: str | None = None


class LoginFlow(Protocol):
    """One login attempt: its steps share one auth key (a code is bound to the key)."""

    async def request_code(self, phone: str) -> LoginStep: ...

    async def submit_code(self, code: str) -> LoginStep: ...

    async def submit_password(self, password: str) -> LoginStep: ...

    async def start_qr(self) -> LoginStep: ...

    async def wait_qr(self, timeout_s: float) -> LoginStep:
        """Wait for the scan; when the token expires first, a fresh one comes back."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Profile:
    first_name: str | None
    last_name: str | None
    about: str | None
