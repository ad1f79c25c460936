"""The account's logged-in sessions (its devices): list them, end one (admin API, console).

The gateway's own session is listed as `current` and is never ended here: logging out ends it
(POST /admin/instances/{n}/logout), which also forgets it on the gateway's side.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.account.telegram_calls import telegram_call_error
from app.errors import ApiError
from app.telegram.port import (
    Authorization,
    AuthorizationNotFound,
    CurrentAuthorization,
    FreshResetForbidden,
    TelegramBackend,
    TelegramError,
)
from app.timestamps import iso_or_none


def session_view(auth: Authorization) -> dict[str, Any]:
    return {
        # A Telegram long: as a string, so that JavaScript clients keep every digit.
        "hash": str(auth.hash),
        "current": auth.current,
        "device_model": auth.device_model,
        "platform": auth.platform,
        "system_version": auth.system_version,
        "app_name": auth.app_name,
        "app_version": auth.app_version,
        "ip": auth.ip,
        "country": auth.country,
        "region": auth.region,
        "date_created": iso_or_none(auth.date_created),
        "date_active": iso_or_none(auth.date_active),
        "official_app": auth.official_app,
        "password_pending": auth.password_pending,
    }


def _failure(number: int, exc: TelegramError) -> ApiError:
    return telegram_call_error(number, exc, "Telegram did not answer")


class Sessions:
    def __init__(self, backends: Mapping[int, TelegramBackend]) -> None:
        self._backends = backends

    def _backend(self, number: int) -> TelegramBackend:
        backend = self._backends.get(number)
        if backend is None:
            raise ApiError("not_logged_in", f"instance {number} has no Telegram backend")
        return backend

    async def list(self, number: int) -> list[dict[str, Any]]:
        try:
            found = await self._backend(number).list_authorizations()
        except TelegramError as exc:
            raise _failure(number, exc) from exc
        # The gateway's own first, then the most recently active.
        ordered = sorted(
            found,
            key=lambda a: (
                not a.current,
                -(a.date_active or a.date_created or datetime.min.replace(tzinfo=UTC)).timestamp(),
            ),
        )
        return [session_view(a) for a in ordered]

    async def end(self, number: int, hash_: int) -> None:
        try:
            await self._backend(number).end_authorization(hash_)
        except CurrentAuthorization as exc:
            raise ApiError(
                "current_session",
                "This is the gateway's own session: to end it, log the instance out "
                f"(POST /admin/instances/{number}/logout)",
            ) from exc
        except AuthorizationNotFound as exc:
            raise ApiError(
                "not_found", f"Instance {number}'s account has no session {hash_} (any more)"
            ) from exc
        except FreshResetForbidden as exc:
            raise ApiError(
                "session_too_new",
                "Telegram lets a session end other sessions only once it is about 24 hours old:"
                " try again later, or end it from a phone",
            ) from exc
        except TelegramError as exc:
            raise _failure(number, exc) from exc
