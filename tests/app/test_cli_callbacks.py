"""`tgw clients callback-secret`, run as a user would (a real process, fresh SQLite)."""

from __future__ import annotations

from pathlib import Path

from tests.app.test_cli import as_json, tgw


def test_callback_secret_is_made_once_and_rotate_keeps_the_old_one_for_24_hours(
    tmp_path: Path,
) -> None:
    as_json(tgw(tmp_path, "clients", "create", "ops@example.com", "--json"))
    first = as_json(tgw(tmp_path, "clients", "callback-secret", "ops@example.com", "--json"))
    again = as_json(tgw(tmp_path, "clients", "callback-secret", "ops@example.com", "--json"))
    assert first["secret"].startswith("whsec_") and again == first
    assert first["previous_secret_until"] is None
    rotated = as_json(
        tgw(tmp_path, "clients", "callback-secret", "ops@example.com", "--rotate", "--json")
    )
    assert rotated["secret"] != first["secret"] and rotated["previous_secret_until"]


def test_callback_secret_of_an_unknown_client_fails_saying_so(tmp_path: Path) -> None:
    result = tgw(tmp_path, "clients", "callback-secret", "nobody@example.com")
    assert result.returncode == 1 and "No client 'nobody@example.com'" in result.stderr
