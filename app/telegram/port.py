"""The small interface between the gateway and a Telegram account.

Shaped after Telethon's model: people are reached through a stored
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

from app.telegram.content import (
    ALL_MEDIA_KINDS,
    HISTORY_KINDS,
    HISTORY_PAGE_MAX,
    MEDIA_KINDS,
    SERVICE_USER_ID,
    AudioInfo,
    ChatAction,
    ContactCard,
    GroupPeer,
    GroupRef,
    HistoryItem,
    HistoryKind,
    IncomingMedia,
    IncomingMessage,
    Location,
    MediaKind,
    MessageEdited,
    MessagesDeleted,
    OutboxRead,
    OutgoingMedia,
    OutgoingMessage,
    Peer,
    Reachability,
    ReactionChanged,
    ReactionsListed,
    Sender,
    SentMessage,
    SharedContact,
    UserPeer,
    VideoInfo,
)
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

# The error tree and the content types are part of the port: every backend raises and
# builds them, every caller catches and reads them.
__all__ = [
    "ALL_MEDIA_KINDS",
    "HISTORY_KINDS",
    "HISTORY_PAGE_MAX",
    "MEDIA_KINDS",
    "RECIPIENT_ERRORS",
    "SERVICE_USER_ID",
    "AccountBanned",
    "AccountDeactivated",
    "AccountFrozen",
    "AlreadySent",
    "AudioInfo",
    "AuthorizationNotFound",
    "ChatAction",
    "ContactCard",
    "CurrentAuthorization",
    "EditWindowExpired",
    "FloodWait",
    "FreshResetForbidden",
    "GroupNotFound",
    "GroupPeer",
    "GroupRef",
    "HistoryItem",
    "HistoryKind",
    "IncomingMedia",
    "IncomingMessage",
    "Location",
    "LoginError",
    "LoginErrorCode",
    "MediaKind",
    "MessageEdited",
    "MessageGone",
    "MessageRejected",
    "MessagesDeleted",
    "NotLoggedIn",
    "OutboxRead",
    "OutgoingMedia",
    "OutgoingMessage",
    "PaidMessagesRequired",
    "Peer",
    "PeerFlood",
    "PeerInvalid",
    "PremiumRequired",
    "PrivacyRestricted",
    "Reachability",
    "ReactionChanged",
    "ReactionsListed",
    "RecipientError",
    "Sender",
    "SentMessage",
    "SessionRevoked",
    "SharedContact",
    "SpamBotSilent",
    "SpamBotUnclear",
    "TelegramError",
    "TransientError",
    "UserBlocked",
    "UserDeactivated",
    "UserPeer",
    "VideoInfo",
]


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

    async def history(self, peer: UserPeer, before_id: int, limit: int) -> list[HistoryItem]:
        """Up to `limit` (at most HISTORY_PAGE_MAX) messages of the private chat with `peer`,
        newest first, older than message `before_id` (0: from the newest); fewer when the chat
        begins. Raises FloodWait when Telegram says to wait, as the other calls do."""

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
