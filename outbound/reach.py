"""Whether a number can be messaged, before a campaign: stored facts first, Telegram when
they are missing or stale.

What a number's answer means:
- `unregistered`: not (or no longer) registered with the gateway: a send gets 472;
- `blocked` / `deactivated`: the last send failed that way (stored from the message's failure;
  a send that reaches them or a new registration clears it; Telegram is not asked again);
- `premium_required` / `paid_messages_required`: Telegram says so (users.getRequirementsToContact),
  or a send failed that way;
- `registered`: registered, and nothing known against messaging them;
- `unknown`: registered, but nothing is known and Telegram could not be asked.

Telegram's answers are kept on the recipient row (`reachability*`) and asked again after
`ANSWER_TTL`; all the people a request needs are asked in one call, and a refusal (FloodWait,
not connected, logged out) falls back to what is stored. `answer_for` is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import Database
from app.models import Recipient, UTCDateTime, table_of
from app.telegram.port import Reachability, TelegramBackend, TelegramError, UserPeer
from app.vocabulary import RecipientStatus

Answer = Literal[
    "registered",
    "unregistered",
    "blocked",
    "deactivated",
    "premium_required",
    "paid_messages_required",
    "unknown",
]
ANSWERS: tuple[Answer, ...] = get_args(Answer)
Source = Literal["stored", "telegram"]

# Telegram's answers are asked again after this long.
ANSWER_TTL = timedelta(hours=1)
# At most this many numbers per request (and so per call to Telegram).
MAX_NUMBERS = 100
# Facts Telegram cannot overturn (it does not tell who blocked the account, and a deleted
# account stays deleted): only a send that reaches them or a new registration clears them.
LASTING = ("blocked", "deactivated")
DETAIL_CHARS = 255

_ANSWER_OF: dict[str, Answer] = {
    "ok": "registered",
    "blocked": "blocked",
    "deactivated": "deactivated",
    "premium_required": "premium_required",
    "paid_messages_required": "paid_messages_required",
}
_TELEGRAM_SAYS: dict[str, str] = {
    "ok": "Telegram sets no requirement to write to them",
    "deactivated": "Telegram says their account was deleted",
    "premium_required": "Telegram says they take messages only from Premium accounts",
    "paid_messages_required": "Telegram says they charge Telegram Stars for messages",
}

R = table_of(Recipient)
_STORE = (
    update(R)
    .where(
        R.c.id == bindparam("b_id"),
        # Unless a send stored something newer meanwhile.
        R.c.reachability_checked_at.is_not_distinct_from(bindparam("b_read", type_=UTCDateTime())),
    )
    .values(
        reachability=bindparam("b_fact"),
        reachability_detail=bindparam("b_detail"),
        reachability_checked_at=bindparam("b_at", type_=UTCDateTime()),
    )
)


@dataclass(frozen=True)
class Reach:
    """The answer for one number."""

    number: str
    reachability: Answer
    checked_at: datetime
    source: Source
    detail: str


@dataclass(frozen=True)
class Fact:
    """What the recipient row knows: a port Reachability other than "unknown"."""

    value: str
    checked_at: datetime
    detail: str


def fact_of(recipient: Recipient) -> Fact | None:
    """The row's stored fact, unless there is none or a registration since voids it."""
    value, at = recipient.reachability, recipient.reachability_checked_at
    if value not in _ANSWER_OF or at is None:
        return None
    if recipient.registered_at is not None and recipient.registered_at > at:
        return None
    return Fact(value, at, recipient.reachability_detail or value)


def is_fresh(fact: Fact, now: datetime, ttl: timedelta = ANSWER_TTL) -> bool:
    return fact.value in LASTING or now - fact.checked_at < ttl


def answer_for(
    number: str,
    recipient: Recipient | None,
    now: datetime,
    telegram: Reachability | None = None,
    why_not_asked: str | None = None,
) -> Reach:
    """The answer for `number` from its recipient row and, when Telegram was asked, what it
    said (`telegram`; "unknown" or None: nothing); `why_not_asked` explains a fallback."""
    if recipient is None:
        return Reach(
            number, "unregistered", now, "stored", "Never registered with the gateway (no Hi)"
        )
    if recipient.status != RecipientStatus.REGISTERED:
        return Reach(
            number,
            "unregistered",
            recipient.unregistered_at or now,
            "stored",
            "Not registered with the gateway (opted out, or removed)",
        )
    if telegram is not None and telegram != "unknown":
        return Reach(
            number, _ANSWER_OF[telegram], now, "telegram", _TELEGRAM_SAYS.get(telegram, telegram)
        )
    fact = fact_of(recipient)
    if fact is None:
        why = why_not_asked or "Telegram could not tell"
        return Reach(number, "unknown", now, "stored", f"Nothing known yet: {why}"[:DETAIL_CHARS])
    detail = fact.detail
    if fact.value == "ok" and detail == fact.value:
        detail = "Registered; nothing known against messaging them"
    if not is_fresh(fact, now) and why_not_asked:
        detail = f"{detail} (stored; not asked again: {why_not_asked})"
    return Reach(number, _ANSWER_OF[fact.value], fact.checked_at, "stored", detail[:DETAIL_CHARS])


def _pick(rows: Sequence[Recipient]) -> Recipient:
    """The registered row of a number, else its newest one."""
    registered = [r for r in rows if r.status == RecipientStatus.REGISTERED]
    return max(registered or rows, key=lambda r: r.id or 0)


async def recipients_by_number(
    session: AsyncSession, instance: int, numbers: Sequence[str]
) -> dict[str, Recipient]:
    rows = await session.scalars(
        select(Recipient).where(
            col(Recipient.instance) == instance, col(Recipient.number).in_(numbers)
        )
    )
    grouped: dict[str, list[Recipient]] = {}
    for row in rows:
        grouped.setdefault(row.number or "", []).append(row)
    return {number: _pick(found) for number, found in grouped.items()}


async def check_reachability(
    database: Database,
    backend: TelegramBackend | None,
    instance: int,
    numbers: Sequence[str],
    now: datetime,
    *,
    no_backend: str = "this instance has no Telegram backend running",
) -> list[Reach]:
    """The answers for `numbers` (normalised, distinct, at most MAX_NUMBERS), in their order;
    `no_backend` says why Telegram is not asked when `backend` is None."""
    async with database.read() as session:
        recipients = await recipients_by_number(session, instance, numbers)
    to_ask: list[Recipient] = []
    for recipient in recipients.values():
        if recipient.status != RecipientStatus.REGISTERED:
            continue
        fact = fact_of(recipient)
        if fact is None or not is_fresh(fact, now):
            to_ask.append(recipient)
    told: dict[int, Reachability] = {}
    why_not: str | None = None
    if to_ask and backend is None:
        why_not = no_backend
    elif to_ask and backend is not None:
        peers = [UserPeer(r.user_id, r.access_hash) for r in to_ask]
        try:
            told = await backend.reachability(peers)
        except TelegramError as exc:
            why_not = f"Telegram could not be asked ({type(exc).__name__}: {exc})"
    answers = []
    for number in numbers:
        found = recipients.get(number)
        said = told.get(found.user_id) if found is not None else None
        answers.append(answer_for(number, found, now, said, why_not))
    await _store_answers(database, to_ask, told, now)
    return answers


async def _store_answers(
    database: Database, asked: Sequence[Recipient], told: dict[int, Reachability], now: datetime
) -> None:
    """Keep what Telegram said on the rows, to be answered from there until ANSWER_TTL."""
    params = [
        {
            "b_id": r.id,
            "b_read": r.reachability_checked_at,
            "b_fact": told[r.user_id],
            "b_detail": _TELEGRAM_SAYS.get(told[r.user_id], told[r.user_id]),
            "b_at": now,
        }
        for r in asked
        if told.get(r.user_id, "unknown") != "unknown"
    ]
    if not params:
        return
    async with database.write() as session:
        await session.execute(_STORE, params)
