"""The `tgw` commands, run as a user would (a real process on a fresh SQLite database)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# This checkout first on the path: an installed `tgw` (editable elsewhere) must not answer.
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def tgw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "tgw.toml"
    if not config.exists():
        config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/tgw.db"\n')
    return subprocess.run(
        [sys.executable, "-m", "app", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=ENV,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_clients_create_shows_the_secret_once_and_list_never_does(tmp_path: Path) -> None:
    created = as_json(tgw(tmp_path, "clients", "create", "ops@example.com", "--json"))
    assert len(created["client_secret"]) == 32
    listed = tgw(tmp_path, "clients", "list", "--json")
    assert created["client_secret"] not in listed.stdout
    assert [c["client_id"] for c in as_json(listed)] == ["ops@example.com"]


def test_clients_rotate_renew_and_revoke_change_the_state(tmp_path: Path) -> None:
    first = as_json(tgw(tmp_path, "clients", "create", "ops@example.com", "--json"))
    rotated = as_json(tgw(tmp_path, "clients", "rotate", "ops@example.com", "--json"))
    assert rotated["client_secret"] != first["client_secret"]
    renewed = as_json(
        tgw(tmp_path, "clients", "renew", "ops@example.com", "--expires", "2099-01-01", "--json")
    )
    assert renewed["expires_at"].startswith("2099-01-01")
    revoked = as_json(tgw(tmp_path, "clients", "revoke", "ops@example.com", "--json"))
    assert revoked["state"] == "revoked"


def test_a_bad_client_id_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    result = tgw(tmp_path, "clients", "create", "not-an-email")
    assert result.returncode == 1
    assert "e-mail" in result.stderr


def test_admin_token_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = tgw(tmp_path, "admin-token").stdout.strip()
    second = tgw(tmp_path, "admin-token").stdout.strip()
    assert first and first == second
    assert (tmp_path / "tgw.admin-token").stat().st_mode & 0o777 == 0o600


def test_send_to_an_unregistered_number_says_472(tmp_path: Path) -> None:
    result = tgw(tmp_path, "send", "34612345678", "hello")
    assert result.returncode == 1
    assert "has not registered" in result.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in (
        ["serve"],
        ["migrate"],
        ["clients", "create"],
        ["status"],
        ["send"],
        ["recipients", "list"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "app", *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0 and "Usage:" in result.stdout, command


def test_removing_an_invalid_number_says_why_without_a_traceback(tmp_path: Path) -> None:
    result = tgw(tmp_path, "recipients", "remove", "abc")
    assert result.returncode == 1
    assert "Destination number is invalid" in result.stderr
    assert "Traceback" not in result.stderr
