"""The account's standing, as @SpamBot tells it (POST /admin/instances/{n}/check, console).

A check asks the backend (which sends @SpamBot "/start" and reads the reply) and turns the
answer into the instance status, in one transaction with its `instance.status` event:
- limited: `restricted`, with the bot's words (and the end of the limit, when it gives one) as
  the detail. The queue is not paused: the people who registered wrote first, and Telegram still
  lets a limited account answer people who wrote first, so those sends may well go through;
  a send that Telegram refuses (PEER_FLOOD) pauses the queue as before.
- frozen: `frozen`. Sends then meet FROZEN_METHOD_INVALID, which pauses the queue as before.
- not limited: `ready` again if the status was `restricted` or `frozen` and no pause is pending
  (a pending FloodWait or PEER_FLOOD pause is the send worker's to end).
Statuses that are not the account's health (logging in, logged out, revoked, banned, ...) are
left alone. A reply the gateway cannot read changes nothing: the API answers 502 with the text;
no reply in time is a 504.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.account.telegram_calls import telegram_call_error
from app.db import Database
from app.errors import ApiError
from app.instances import set_instance_status
from app.models import Instance
from app.telegram.port import (
    SpamBotSilent,
    SpamBotUnclear,
    SpamCheck,
    TelegramBackend,
    TelegramError,
)
from app.timestamps import iso, iso_or_none

DETAIL_MAX_CHARS = 255  # Instance.status_detail
# The statuses a check may change: the account's health, not its login.
CHECKED_STATUSES = ("ready", "flood_wait", "restricted", "frozen")


def _until_text(until: datetime) -> str:
    return f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def check_detail(check: SpamCheck) -> str:
    """The status detail for a limited or frozen account: the bot's words, shortened to fit
    255 characters, then "until ..." where the reply gives the end."""
    prefix = "@SpamBot: "
    suffix = f" (until {_until_text(check.until)})" if check.until is not None else ""
    words = " ".join(check.reply.split())
    room = DETAIL_MAX_CHARS - len(prefix) - len(suffix)
    if len(words) > room:
        words = words[: room - 1].rstrip() + "…"
    return prefix + words + suffix


def status_after_check(
    status: str, paused_until: datetime | None, check: SpamCheck, now: datetime
) -> tuple[str, str | None] | None:
    """The (status, detail) a check leads to, or None when the status stays as it is."""
    if status not in CHECKED_STATUSES:
        return None
    if check.condition in ("restricted", "frozen"):
        return check.condition, check_detail(check)
    pause_pending = paused_until is not None and paused_until > now
    if status in ("restricted", "frozen") and not pause_pending:
        return "ready", None
    return None


def _failure(number: int, exc: TelegramError) -> ApiError:
    if isinstance(exc, SpamBotUnclear):
        return ApiError(
            "spambot_unrecognised",
            f"Could not interpret @SpamBot's reply (the status is unchanged): {exc.reply}",
            extra={"reply": exc.reply},
        )
    if isinstance(exc, SpamBotSilent):
        return ApiError("spambot_timeout", f"{exc} (the status is unchanged)")
    return telegram_call_error(number, exc, "Could not ask @SpamBot")


@dataclass(frozen=True)
class CheckResult:
    check: SpamCheck
    status: str
    status_detail: str | None
    checked_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "condition": self.check.condition,
            "reply": self.check.reply,
            "until": iso_or_none(self.check.until),
            "status": self.status,
            "status_detail": self.status_detail,
            "checked_at": iso(self.checked_at),
        }


class AccountHealth:
    def __init__(
        self,
        backends: Mapping[int, TelegramBackend],
        database: Database,
        clock: Callable[[], datetime],
    ) -> None:
        self._backends = backends
        self._db = database
        self._clock = clock
        # One conversation with @SpamBot at a time per instance: two would read each other's
        # replies.
        self._locks: dict[int, asyncio.Lock] = {}

    async def check(self, number: int) -> CheckResult:
        backend = self._backends.get(number)
        if backend is None:
            raise ApiError("not_logged_in", f"instance {number} has no Telegram backend")
        lock = self._locks.setdefault(number, asyncio.Lock())
        async with lock:
            try:
                check = await backend.check_restrictions()
            except TelegramError as exc:
                raise _failure(number, exc) from exc
            now = self._clock()
            async with self._db.write() as session:
                inst = await session.get(Instance, number)
                if inst is None:
                    raise ApiError("unknown_instance", f"No instance {number}")
                change = status_after_check(inst.status, inst.paused_until, check, now)
                if change is not None:
                    await set_instance_status(session, inst, change[0], change[1], now)
                return CheckResult(check, inst.status, inst.status_detail, now)
