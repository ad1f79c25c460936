"""Reading @SpamBot's answer to "/start": is the account limited? (no I/O here)

@SpamBot answers in the account's language with one of a few texts:
- not limited: "Good news, no limits are currently applied to your account. You’re free as a
  bird!";
- limited: "I'm afraid some Telegram users found your messages annoying and forwarded them to
  our team of moderators ... your account is now limited until 3 Jan 2027, 12:00 UTC. While the
  account is limited, you will not be able to send messages to people who do not have your
  number in their phone contacts ..." (with or without "until <date>"), or the text about
  numbers that "trigger a harsh response from our anti-spam systems";
- frozen: a text saying the account was frozen (or blocked) for breaking the Terms of Service.

The words are matched, not the whole text, so small rewordings still read right. A reply that
matches none of them is not guessed at: `classify` raises SpamBotUnclear with the text, so the
admin reads it rather than trusting a wrong "ok" or "restricted". English and Russian are known.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from app.telegram.port import SpamBotUnclear, SpamCheck

SPAMBOT_USERNAME = "SpamBot"
START_COMMAND = "/start"
NOT_LIMITED_REPLY = (
    "Good news, no limits are currently applied to your account. You’re free as a bird!"
)

# Checked in this order: a frozen account's text may also speak of limits, and the "not
# limited" text speaks of "no limits".
_FROZEN = (
    r"\b(?:is|was|has been|got) (?:now )?(?:frozen|blocked)\b",
    r"\bfrozen\b",
    r"\bblocked for (?:violat|breach|breaking)",
    r"заморожен",
    r"аккаунт (?:был )?заблокирован",
)
_OK = (
    r"\bno limits are (?:currently )?applied\b",
    r"\bfree as a bird\b",
    r"\bnot (?:currently )?limited\b",
    r"свободен от каких-либо ограничений",
    r"ограничения (?:на ваш аккаунт )?не (?:наложены|применяются)",
)
_LIMITED = (
    r"\b(?:account|you) (?:is|are|was|were|has been|have been) (?:now )?(?:limited|restricted)\b",
    r"\blimited until\b",
    r"\bwhile the account is limited\b",
    r"\bwill not be able to send messages\b",
    r"\bcan(?:no|')t send messages\b",
    r"\bharsh response from our anti-spam\b",
    r"ограничен",
)

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_TIME = r"(?:,?\s*(?:at\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})(?:\s*(?:UTC|GMT))?)?"
# "until 3 Jan 2027, 12:00 UTC" and "until January 3, 2027 12:00"
_UNTIL_DAY_FIRST = re.compile(
    r"\buntil\s+(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]{3,9})\.?,?\s+(?P<year>\d{4})" + _TIME,
    re.IGNORECASE,
)
_UNTIL_MONTH_FIRST = re.compile(
    r"\buntil\s+(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})"
    + _TIME,
    re.IGNORECASE,
)
# "until 2027-01-03 12:00"
_UNTIL_ISO = re.compile(
    r"\buntil\s+(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2}))?",
    re.IGNORECASE,
)


def _normal(text: str) -> str:
    """NFKC, typographic apostrophes made plain, whitespace collapsed, case folded."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    return " ".join(text.split()).casefold()


def _matches(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(pattern, text) for pattern in patterns)


def limited_until(text: str) -> datetime | None:
    """When the limit ends, where the reply gives a date (UTC; midnight if no time is given)."""
    for pattern in (_UNTIL_DAY_FIRST, _UNTIL_MONTH_FIRST, _UNTIL_ISO):
        found = pattern.search(text)
        if found is None:
            continue
        raw_month = found["month"]
        month = int(raw_month) if raw_month.isdigit() else _MONTHS.get(raw_month.lower())
        if month is None:
            continue
        try:
            return datetime(
                int(found["year"]),
                month,
                int(found["day"]),
                int(found["hour"] or 0),
                int(found["minute"] or 0),
                tzinfo=UTC,
            )
        except ValueError:
            continue  # "until 31 Feb": no such day
    return None


def classify(reply: str) -> SpamCheck:
    """The standing @SpamBot's `reply` states; SpamBotUnclear when it states none we know."""
    text = reply.strip()
    if not text:
        raise SpamBotUnclear(text)
    normal = _normal(text)
    if _matches(_FROZEN, normal):
        return SpamCheck("frozen", text, limited_until(text))
    if _matches(_OK, normal):
        return SpamCheck("ok", text, None)
    if _matches(_LIMITED, normal):
        return SpamCheck("restricted", text, limited_until(text))
    raise SpamBotUnclear(text)
