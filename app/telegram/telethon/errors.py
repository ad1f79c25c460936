"""Telethon's errors onto the port's error tree, as tables read top to bottom.

Rows match by explicit class, never by base class alone: SessionPasswordNeededError is an
UnauthorizedError too, RandomIdDuplicateError a ServerError.
The first row that matches wins, so the order of the rows is part of the mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from telethon import errors

from app.telegram import port

E = TypeVar("E", bound=port.TelegramError)

# What a row matches: exception classes, or a test of the exception where no class says it.
Match = tuple[type[BaseException], ...] | Callable[[BaseException], bool]
# A row: what it matches, and the port error it makes of the exception (Any: the rows read
# attributes, such as `seconds`, that only their own classes have).
Row = tuple[Match, Callable[[Any], E]]


def _is_frozen(exc: BaseException) -> bool:
    """FROZEN_METHOD_INVALID and its kin: newer Telethon has classes for them (a FloodError
    whose `message` says only "FLOOD"); older ones keep Telegram's text in `message`."""
    if not isinstance(exc, errors.RPCError):
        return False
    return type(exc).__name__.startswith("Frozen") or str(exc.message).startswith("FROZEN_")


def _says(*names: str) -> Callable[[BaseException], bool]:
    """Telegram's error is one of `names` (or `NAME_<n>`, as ALLOW_PAYMENT_REQUIRED_<stars>).

    Telethon 1.39 to 1.45 have no classes for these: they arrive as a plain RPCError (a
    ForbiddenError for 403) whose `message` is Telegram's text; a later Telethon with a class
    of its own for them (PrivacyPremiumRequiredError...) is matched by that class's name."""
    classes = {"".join(part.title() for part in name.split("_")) + "Error" for name in names}

    def matches(exc: BaseException) -> bool:
        if not isinstance(exc, errors.RPCError):
            return False
        if type(exc).__name__ in classes:
            return True
        message = str(exc.message or "")
        return any(message == name or message.startswith(f"{name}_") for name in names)

    return matches


def _refused_for_this_request(exc: BaseException) -> bool:
    """An error Telegram gives for this request: sending it again will not help."""
    return isinstance(exc, errors.RPCError) and exc.code in (400, 403, 406)


def _with_text(error: type[E]) -> Callable[[Any], E]:
    """The row's port error, carrying the Telethon error's text."""
    return lambda exc: error(str(exc))


def _first_match(exc: BaseException, rows: tuple[Row[E], ...]) -> E | None:
    for match, convert in rows:
        if isinstance(match, tuple):
            if isinstance(exc, match):
                return convert(exc)
        elif match(exc):
            return convert(exc)
    return None


_SESSION_GONE = (
    errors.AuthKeyUnregisteredError,
    errors.SessionRevokedError,
    errors.SessionExpiredError,
    errors.AuthKeyDuplicatedError,
    # The server no longer knows the auth key at all (the transport answers 404).
    errors.AuthKeyNotFound,
)

_PORT_ERRORS: tuple[Row[port.TelegramError], ...] = (
    ((errors.RandomIdDuplicateError,), lambda exc: port.AlreadySent(None)),
    (
        (errors.FloodWaitError, errors.FloodPremiumWaitError, errors.SlowModeWaitError),
        lambda exc: port.FloodWait(int(exc.seconds)),
    ),
    ((errors.PeerFloodError,), _with_text(port.PeerFlood)),
    # The recipient's side.
    ((errors.UserIsBlockedError, errors.YouBlockedUserError), _with_text(port.UserBlocked)),
    ((errors.InputUserDeactivatedError,), _with_text(port.UserDeactivated)),
    # The person takes messages only from Premium accounts, or only paid ones (Stars).
    (_says("PRIVACY_PREMIUM_REQUIRED"), _with_text(port.PremiumRequired)),
    (_says("ALLOW_PAYMENT_REQUIRED", "PAYMENT_REQUIRED"), _with_text(port.PaidMessagesRequired)),
    (
        (errors.UserPrivacyRestrictedError, errors.ChatWriteForbiddenError),
        _with_text(port.PrivacyRestricted),
    ),
    (
        (
            errors.PeerIdInvalidError,
            errors.UserIdInvalidError,
            errors.ChatIdInvalidError,
            errors.ChannelInvalidError,
            errors.ChannelPrivateError,
        ),
        _with_text(port.PeerInvalid),
    ),
    # The message itself.
    (
        (
            errors.MessageTooLongError,
            errors.MessageEmptyError,
            errors.MediaCaptionTooLongError,
            errors.EntityBoundsInvalidError,
            errors.PhotoInvalidDimensionsError,
            errors.MediaEmptyError,
        ),
        _with_text(port.MessageRejected),
    ),
    # The account's condition, where Telegram tells it.
    (
        (errors.UserDeactivatedBanError, errors.PhoneNumberBannedError),
        lambda exc: port.AccountBanned(f"Telegram banned this account ({exc.message})"),
    ),
    (
        (errors.UserDeactivatedError,),
        lambda exc: port.AccountDeactivated(f"the account was deleted ({exc.message})"),
    ),
    (
        _is_frozen,
        lambda exc: port.AccountFrozen(
            "Telegram froze this account (FROZEN_METHOD_INVALID): it can log in but not send;"
            " appeal through @SpamBot"
        ),
    ),
    (_SESSION_GONE, _with_text(port.SessionRevoked)),
    (_refused_for_this_request, lambda exc: port.MessageRejected(f"{exc.code} {exc.message}")),
)

# Editing, deleting and reacting to messages (telethon/actions.py): their own answers.
ACTION_ERRORS: tuple[Row[port.TelegramError], ...] = (
    ((errors.MessageEditTimeExpiredError,), _with_text(port.EditWindowExpired)),
    ((errors.MessageIdInvalidError,), _with_text(port.MessageGone)),
)

# account.resetAuthorization's own answers, read before the general table.
RESET_AUTHORIZATION_ERRORS: tuple[Row[port.TelegramError], ...] = (
    ((errors.HashInvalidError,), _with_text(port.AuthorizationNotFound)),
    ((errors.FreshResetAuthorisationForbiddenError,), _with_text(port.FreshResetForbidden)),
)


def to_port_error(
    exc: BaseException, call_errors: tuple[Row[port.TelegramError], ...] = ()
) -> port.TelegramError:
    """The port's error for anything a Telethon call raised; `call_errors` are rows of one
    call's own, read before the general table."""
    if isinstance(exc, port.TelegramError):
        return exc
    for rows in (call_errors, _PORT_ERRORS):
        error = _first_match(exc, rows)
        if error is not None:
            return error
    # Server-side trouble (500, RPC_CALL_FAIL, TIMEOUT), network loss, timeouts, the unknown:
    # retried later with the same random_id, which is always safe.
    return port.TransientError(repr(exc))


def _login_flood_wait(exc: Any) -> port.LoginError:
    seconds = int(getattr(exc, "seconds", 0) or 0) or None
    wait = f" for {seconds} s" if seconds else ""
    return port.LoginError(
        "flood_wait",
        f"Telegram asks to wait{wait} before trying again (too many login attempts)",
        seconds=seconds,
    )


_LOGIN_ERRORS: tuple[Row[port.LoginError], ...] = (
    ((errors.FloodWaitError, errors.PhoneNumberFloodError), _login_flood_wait),
    (
        (errors.PhonePasswordFloodError,),
        lambda exc: port.LoginError("flood_wait", "too many password attempts; wait and try later"),
    ),
    (
        (errors.PhoneNumberInvalidError,),
        lambda exc: port.LoginError("phone_invalid", "Telegram does not accept this phone number"),
    ),
    (
        (errors.PhoneNumberBannedError,),
        lambda exc: port.LoginError("phone_banned", "this phone number is banned from Telegram"),
    ),
    (
        (errors.PhoneNumberUnoccupiedError,),
        lambda exc: port.LoginError(
            "phone_unregistered",
            "no Telegram account uses this number: sign up in the Telegram app first",
        ),
    ),
    (
        (errors.PhoneCodeInvalidError, errors.PhoneCodeEmptyError),
        lambda exc: port.LoginError("code_invalid", "the code is wrong; check it and try again"),
    ),
    (
        (errors.PhoneCodeExpiredError,),
        lambda exc: port.LoginError(
            "code_expired",
            "the code expired (or was shared through Telegram): request a new one",
        ),
    ),
    (
        (errors.PasswordHashInvalidError,),
        lambda exc: port.LoginError("password_invalid", "the 2FA password is wrong"),
    ),
    (
        (OSError, TimeoutError, ConnectionError),
        lambda exc: port.LoginError("unreachable", f"cannot reach Telegram: {exc!r}"),
    ),
)


def to_login_error(exc: BaseException) -> port.LoginError:
    """The port's login error for anything a login step raised."""
    if isinstance(exc, port.LoginError):
        return exc
    error = _first_match(exc, _LOGIN_ERRORS)
    if error is not None:
        return error
    return port.LoginError("login_failed", f"Telegram refused the login: {exc}")
