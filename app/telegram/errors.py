"""The port's error tree: everything a Telegram backend raises, as plain Python exceptions.

Backends (the Telethon adapter, the sandbox) convert their own failures into these; nothing
from Telethon crosses the port. `port.py` re-exports them, so `app.telegram.port` stays the one
import for the rest of the code.
"""

from __future__ import annotations

from typing import Literal


class TelegramError(Exception):
    """Base of everything a backend raises."""


class FloodWait(TelegramError):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"flood wait of {seconds} s")
        self.seconds = seconds


class PeerFlood(TelegramError):
    """The account is limited for messaging non-contacts (spam reports); no defined end."""


class RecipientError(TelegramError):
    """A permanent problem with one recipient; `code` is the message's stable error_code."""

    code = "recipient_error"


class UserBlocked(RecipientError):
    code = "user_blocked"


class UserDeactivated(RecipientError):
    code = "user_deactivated"


class PrivacyRestricted(RecipientError):
    code = "privacy_restricted"


class PeerInvalid(RecipientError):
    code = "peer_invalid"


class GroupNotFound(RecipientError):
    code = "group_not_found"


class PremiumRequired(RecipientError):
    """The person takes messages only from Premium accounts (PRIVACY_PREMIUM_REQUIRED)."""

    code = "premium_required"


class PaidMessagesRequired(RecipientError):
    """The person charges Stars for messages (ALLOW_PAYMENT_REQUIRED): the gateway never pays."""

    code = "paid_messages_required"


class EditWindowExpired(TelegramError):
    """MESSAGE_EDIT_TIME_EXPIRED: Telegram's window for editing the message has passed."""

    code = "edit_window_expired"


class MessageGone(TelegramError):
    """MESSAGE_ID_INVALID / MESSAGE_NOT_MODIFIED's cousin: the message no longer exists there."""

    code = "message_gone"


class MessageRejected(TelegramError):
    """Telegram refused the content itself (too long, empty, bad media): retrying won't help."""

    code = "message_rejected"


class SessionRevoked(TelegramError):
    """The login is gone (terminated from a phone, logged out, key unregistered)."""

    # The instance status it leads to: the account's condition when Telegram says why.
    status: Literal["revoked", "banned", "deactivated"] = "revoked"


class AccountBanned(SessionRevoked):
    """Telegram banned the account (USER_DEACTIVATED_BAN, PHONE_NUMBER_BANNED)."""

    status = "banned"


class AccountDeactivated(SessionRevoked):
    """The account was deleted (USER_DEACTIVATED)."""

    status = "deactivated"


class AccountFrozen(TelegramError):
    """Telegram froze the account (FROZEN_METHOD_INVALID): it stays logged in but may not send
    until an appeal succeeds."""


class NotLoggedIn(TelegramError):
    """No account is logged in on this instance yet."""


class AuthorizationNotFound(TelegramError):
    """HASH_INVALID: the account has no session with this hash (ended already, or never)."""


class CurrentAuthorization(TelegramError):
    """The session named is the gateway's own: only logging out ends it."""


class FreshResetForbidden(TelegramError):
    """FRESH_RESET_AUTHORISATION_FORBIDDEN: Telegram lets a session end others only once it is
    about a day old."""


class SpamBotSilent(TelegramError):
    """@SpamBot did not answer "/start" within the wait."""


class SpamBotUnclear(TelegramError):
    """@SpamBot answered in words the gateway cannot read as a standing; `reply` holds them."""

    def __init__(self, reply: str) -> None:
        super().__init__(f"could not interpret @SpamBot's reply: {reply}")
        self.reply = reply


class TransientError(TelegramError):
    """Network trouble or a Telegram-side internal error: retry later with the same random_id."""


class AlreadySent(TelegramError):
    """RANDOM_ID_DUPLICATE: a message with this random_id was delivered before."""

    def __init__(self, message_id: int | None = None) -> None:
        super().__init__("a message with this random_id was already sent")
        self.message_id = message_id


RECIPIENT_ERRORS: dict[str, type[RecipientError]] = {
    cls.code: cls
    for cls in (
        UserBlocked,
        UserDeactivated,
        PrivacyRestricted,
        PeerInvalid,
        PremiumRequired,
        PaidMessagesRequired,
    )
}


LoginErrorCode = Literal[
    "phone_invalid",
    "phone_unregistered",
    "phone_banned",
    "code_invalid",
    "code_expired",
    "password_invalid",
    "flood_wait",
    "qr_expired",
    "not_configured",
    "unreachable",
    "login_failed",
]


class LoginError(TelegramError):
    """A login step failed; `code` is stable, the message says what to do."""

    def __init__(self, code: LoginErrorCode, message: str, *, seconds: int | None = None) -> None:
        super().__init__(message)
        self.code: LoginErrorCode = code
        self.seconds = seconds
