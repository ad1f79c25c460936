"""`tgw recipients reachability`, run as a user would (a real process on a fresh SQLite
database): it answers from the gateway's records, never asks Telegram and never writes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tests.app.test_cli import as_json, tgw

NUMBER = "34612345678"


def test_a_number_that_never_registered_is_unregistered(tmp_path: Path) -> None:
    assert tgw(tmp_path, "migrate").returncode == 0
    answer = as_json(tgw(tmp_path, "recipients", "reachability", f"+{NUMBER}", "--json"))
    assert answer["number"] == NUMBER
    assert (answer["reachability"], answer["source"]) == ("unregistered", "stored")


def test_a_stored_fact_is_answered_and_unknown_says_telegram_was_not_asked(
    tmp_path: Path,
) -> None:
    assert tgw(tmp_path, "migrate").returncode == 0
    registered = datetime(2026, 12, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.000000")
    blocked_at = datetime(2026, 12, 2, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.000000")
    with sqlite3.connect(tmp_path / "tgw.db") as db:
        db.execute(
            "INSERT OR IGNORE INTO instance (number, backend, status, updated_at)"
            " VALUES (1, 'sandbox', 'ready', ?)",
            (registered,),
        )
        db.execute(
            "INSERT INTO recipient (instance, user_id, number, language, status, created_at,"
            " registered_at, reachability, reachability_detail, reachability_checked_at)"
            " VALUES (1, 7, ?, 'en', 'registered', ?, ?, 'blocked',"
            " 'a send failed with user_blocked', ?),"
            " (1, 8, '14155552671', 'en', 'registered', ?, ?, NULL, NULL, NULL)",
            (NUMBER, registered, registered, blocked_at, registered, registered),
        )
    blocked = as_json(tgw(tmp_path, "recipients", "reachability", NUMBER, "--json"))
    assert (blocked["reachability"], blocked["source"]) == ("blocked", "stored")
    assert blocked["checked_at"] == "2026-12-02T00:00:00Z"
    unknown = tgw(tmp_path, "recipients", "reachability", "14155552671")
    assert unknown.returncode == 0, unknown.stderr
    assert unknown.stdout.startswith("14155552671\tunknown\t")
    assert "not asked from the command line" in unknown.stdout


def test_an_invalid_number_says_why_without_a_traceback(tmp_path: Path) -> None:
    assert tgw(tmp_path, "migrate").returncode == 0
    result = tgw(tmp_path, "recipients", "reachability", "abc")
    assert result.returncode == 1
    assert "Destination number is invalid" in result.stderr and "(471)" in result.stderr
    assert "Traceback" not in result.stderr
