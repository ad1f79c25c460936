"""The one service notice of Telegram's account 777000 that the gateway reads: "New login".

Telegram sends it to the account when someone logs in from another device, in the account's
language. The English wording is recognised:

    New login. Dear Acme, we detected a login into your account from a new device on
    25/11/2026 at 12:00:00 UTC.

    Device: Telegram Desktop, 5.0, Windows 10
    Location: Berlin, Germany (IP = 203.0.113.7)

    If this wasn't you, you can terminate that session in Settings > Devices ...

A notice in another language is not recognised (it is ignored, as every other message of 777000
is: login codes above all); the login is still announced by updateNewAuthorization when the
gateway is connected at that moment. Pure functions: both backends use them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.telegram.port import LoginAlert

_LOGIN_NOTICE = re.compile(
    r"^\W*new login\b|\bdetected a login (?:in)?to your account\b", re.IGNORECASE
)
_FIELD = re.compile(r"^[ \t]*(device|location)[ \t]*:[ \t]*(.+?)[ \t]*$", re.IGNORECASE | re.M)


def is_login_notice(text: str) -> bool:
    return bool(_LOGIN_NOTICE.search(text or ""))


def login_alert_from_notice(text: str, date: datetime, message_id: int) -> LoginAlert | None:
    """The alert a 777000 message stands for; None when it is not a "New login" notice."""
    if not is_login_notice(text):
        return None
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(text):
        fields.setdefault(match.group(1).lower(), match.group(2))
    return LoginAlert(
        source="service_notice",
        date=date,
        device=fields.get("device"),
        location=fields.get("location"),
        text=text,
        message_id=message_id,
    )


def login_notice_text(first_name: str, when: datetime, device: str, location: str) -> str:
    """The notice as Telegram words it (the sandbox sends it)."""
    at = when.astimezone(UTC)
    return (
        f"New login. Dear {first_name}, we detected a login into your account from a new device"
        f" on {at:%d/%m/%Y} at {at:%H:%M:%S} UTC.\n\n"
        f"Device: {device}\n"
        f"Location: {location}\n\n"
        "If this wasn't you, you can terminate that session in Settings > Devices (or Privacy &"
        " Security > Active Sessions).\n\n"
        "If you think that somebody logged in to your account against your will, you can enable"
        " Two-Step Verification in Privacy and Security settings."
    )
