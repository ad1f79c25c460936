"""Reading Telegram's "New login" notice (app/telegram/notices.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.telegram.notices import login_alert_from_notice, login_notice_text

WHEN = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TELEGRAM_WORDING = (
    "New login. Dear Acme, we detected a login into your account from a new device on "
    "25/11/2026 at 12:00:00 UTC.\n\n"
    "Device: Telegram Desktop, 5.0, Windows 10\n"
    "Location: Berlin, Germany (IP = 203.0.113.7)\n\n"
    "If this wasn't you, you can terminate that session in Settings > Devices (or Privacy & "
    "Security > Active Sessions).\n\n"
    "If you think that somebody logged in to your account against your will, you can enable "
    "Two-Step Verification in Privacy and Security settings.\n\nSincerely,\nThe Telegram Team"
)


def test_the_new_login_notice_gives_device_location_and_text() -> None:
    alert = login_alert_from_notice(TELEGRAM_WORDING, WHEN, 17)
    assert alert is not None
    assert (alert.source, alert.message_id, alert.date) == ("service_notice", 17, WHEN)
    assert alert.device == "Telegram Desktop, 5.0, Windows 10"
    assert alert.location == "Berlin, Germany (IP = 203.0.113.7)"
    assert alert.text == TELEGRAM_WORDING
    assert alert.hash is None and alert.unconfirmed is None


def test_login_codes_and_other_service_messages_are_not_login_notices() -> None:
    code = (
        "Login code: 12345. Do not give this code to anyone, even if they say they are from "
        "Telegram!\n\nThis code can be used to log in to your Telegram account."
    )
    assert login_alert_from_notice(code, WHEN, 1) is None
    web = "Your account was logged in to web.telegram.org"
    assert login_alert_from_notice(web, WHEN, 2) is None
    assert login_alert_from_notice("", WHEN, 3) is None


def test_a_notice_without_the_detail_lines_is_still_one() -> None:
    alert = login_alert_from_notice("New login from an unknown device.", WHEN, 5)
    assert alert is not None and alert.device is None and alert.location is None


def test_the_sandbox_wording_is_read_back() -> None:
    text = login_notice_text("Acme", WHEN, "Pixel 8", "Lisbon, Portugal")
    alert = login_alert_from_notice(text, WHEN, 9)
    assert alert is not None
    assert (alert.device, alert.location) == ("Pixel 8", "Lisbon, Portugal")
    assert "25/11/2026 at 12:00:00 UTC" in text
