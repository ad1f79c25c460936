"""What an admin call to Telegram (sessions, the @SpamBot check) answers when Telegram fails."""

from __future__ import annotations

from app.errors import ApiError
from app.telegram.port import FloodWait, NotLoggedIn, SessionRevoked, TelegramError


def telegram_call_error(number: int, exc: TelegramError, failed: str) -> ApiError:
    """The ApiError for `exc`; `failed` opens the message of anything else ("Telegram did not
    answer")."""
    if isinstance(exc, NotLoggedIn):
        return ApiError("not_logged_in", str(exc))
    if isinstance(exc, SessionRevoked):
        return ApiError(
            "not_logged_in", f"instance {number}'s session was revoked ({exc}): log in again"
        )
    if isinstance(exc, FloodWait):
        return ApiError(
            "flood_wait",
            f"Telegram asks to wait {exc.seconds} s",
            headers={"Retry-After": str(exc.seconds)},
            extra={"seconds": exc.seconds},
        )
    return ApiError("unavailable", f"{failed}: {exc}")
