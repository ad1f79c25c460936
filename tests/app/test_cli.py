"""The `tgw` commands, run as a user would (a real process on a fresh SQLite database)."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_serve_process import (
    PERSON,
    ServeHarness,
    create_client,
    message_status,
    register,
)
from tests.waiting import eventually

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
        umask=0o022,  # a usual umask: the gateway's own files must be 0600 all the same
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


def test_serve_with_a_malformed_proxy_exits_2_naming_the_instance_and_the_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "tgw.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/tgw.db"\n'
        '[[instances]]\nnumber = 1\nproxy = "socks5://ops:hunter2@10.0.0.1"\n'
    )
    result = tgw(tmp_path, "serve")
    assert result.returncode == 2, result.stderr
    assert "tgw: configuration error:" in result.stderr
    assert "[[instances]] number 1: proxy: the port is missing" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_status_prints_readable_lines_and_json_on_request(tmp_path: Path) -> None:
    tgw(tmp_path, "send", "34612345678", "hello")  # refused (472), but the instance row exists
    text = tgw(tmp_path, "status")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        "instance 1 (telethon): logged_out",
        "  phone     -",
        "  messages  none yet",
        "  session   held by no process",
    ]
    shown = as_json(tgw(tmp_path, "status", "--json"))[0]
    assert shown["queue"] == {}
    assert shown["session_holder"] is None


def test_message_counts_read_in_the_order_a_message_goes_through() -> None:
    from app.cli import _counts

    assert _counts({"sent": 3, "failed": 1, "queued": 2}) == "2 queued, 3 sent, 1 failed"
    assert _counts({}) == "none yet"


def test_a_postgresql_url_without_asyncpg_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "tgw.toml").write_text(
        '[database]\nurl = "postgresql+asyncpg://ops:hunter2@127.0.0.1:1/tgw"\n'
    )
    # asyncpg made unimportable, as on a machine where only `pip install -e .` ran.
    wrapper = "import sys; sys.modules['asyncpg'] = None; from app.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", wrapper, "serve", "--config", str(tmp_path / "tgw.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=ENV,
    )
    assert result.returncode == 2, result.stderr
    assert "tgw: configuration error: [database] url is a PostgreSQL URL" in result.stderr
    assert "pip install 'tgw[postgres]'" in result.stderr
    assert "pip install -e '.[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


def test_migrate_never_prints_the_database_password(tmp_path: Path) -> None:
    (tmp_path / "tgw.toml").write_text(
        '[database]\nurl = "postgresql+asyncpg://ops:hunter2@127.0.0.1:1/tgw"\n'
    )
    result = tgw(tmp_path, "migrate")
    assert result.returncode == 1
    assert "cannot migrate the database at postgresql+asyncpg://ops:***@127.0.0.1:1/tgw" in (
        result.stderr
    )
    assert "hunter2" not in result.stderr + result.stdout


async def test_serve_at_debug_never_logs_a_message_text_or_a_client_secret(
    tmp_path: Path,
) -> None:
    harness = ServeHarness(tmp_path, serve_args=["--log-level", "debug"])
    text = f"confidential {secrets.token_hex(8)}"
    try:
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            api = await create_client(http, harness)
            await register(http, harness, PERSON, "Hola")
            sent = await http.post(
                "/v3/telegram/single/text/message/1",
                json={"number": PERSON, "message": text},
                headers=api,
            )
            assert sent.status_code == 200, sent.text

            async def is_sent() -> str | None:
                status = await message_status(http, api, sent.json()["id"])
                return status if status == "sent" else None

            await eventually(is_sent, "the message to be sent", timeout_s=10.0, interval_s=0.1)
    finally:
        harness.stop_all()
    log = server.log_path.read_text(encoding="utf-8", errors="replace")
    secret = api["X-WM-CLIENT-SECRET"]
    assert " DEBUG " in log  # debug logging was on...
    # ...and none of what the requests and the statements carried shows.
    assert text not in log
    assert secret not in log
    assert hashlib.sha256(secret.encode()).hexdigest() not in log
    assert PERSON not in log


async def test_serve_prints_no_alembic_info_lines_at_the_default_level(tmp_path: Path) -> None:
    harness = ServeHarness(tmp_path)
    try:
        server = await harness.start()
    finally:
        harness.stop_all()
    log = server.log_path.read_text(encoding="utf-8", errors="replace")
    assert "tgw: serving on" in log
    assert "alembic" not in log


def serve_on_a_taken_port(tmp_path: Path, admin_token: str) -> subprocess.CompletedProcess[str]:
    """`tgw serve` with this admin token; it stops at the bind, after its start-up messages."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        (tmp_path / "tgw.toml").write_text(
            f'[database]\nurl = "sqlite:///{tmp_path}/tgw.db"\n'
            f"[server]\nport = {taken.getsockname()[1]}\n"
            f'[security]\nadmin_token = "{admin_token}"\n'
            '[[instances]]\nnumber = 1\nbackend = "sandbox"\n'
        )
        return tgw(tmp_path, "serve")


def test_serve_warns_about_a_short_configured_admin_token(tmp_path: Path) -> None:
    result = serve_on_a_taken_port(tmp_path, "short-token")
    assert result.returncode != 0
    assert "admin_token is 11 characters; use at least 24" in result.stderr
    assert "short-token" not in result.stderr + result.stdout


def test_serve_says_nothing_about_a_long_configured_admin_token(tmp_path: Path) -> None:
    result = serve_on_a_taken_port(tmp_path, secrets.token_hex(16))
    assert result.returncode != 0  # the port is taken
    assert "address already in use" in result.stderr.lower()
    assert "admin_token is" not in result.stderr


# The commands that only read: they check the schema and never migrate (nor write at all).
READERS = (
    ["status"],
    ["clients", "list", "--json"],
    ["recipients", "list", "--status", "all"],
    ["recipients", "reachability", "34612345678"],
)


async def _tables(db_url: str) -> list[str]:
    import sqlalchemy as sa

    from app.db import create_engine, sqlite_path

    path = sqlite_path(db_url)
    if path is not None and not path.exists():
        return []
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: sorted(sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _alembic_version(db_url: str) -> list[str]:
    import sqlalchemy as sa

    from app.db import create_engine

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


async def test_read_only_commands_never_migrate_and_say_to_run_tgw_migrate(
    tmp_path: Path, db_url: str
) -> None:
    import asyncio

    from app.db import sqlite_path
    from app.migrate import head_revision, upgrade
    from tests.conftest import empty_database

    (tmp_path / "tgw.toml").write_text(f'[database]\nurl = "{db_url}"\n')

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(tgw, tmp_path, *args)

    async with empty_database(db_url):
        for args in READERS:  # a database never migrated
            result = await run(*args)
            assert result.returncode == 1, (args, result.stderr)
            assert "has no tgw schema yet: run `tgw migrate` first" in result.stderr, args
            assert result.stdout == ""
        assert await _tables(db_url) == []
        path = sqlite_path(db_url)
        assert path is None or not path.exists()  # not even an empty SQLite file

        await asyncio.to_thread(upgrade, db_url, "0009")  # a database one migration behind
        before = await _tables(db_url)
        for args in READERS:
            result = await run(*args)
            assert result.returncode == 1, (args, result.stderr)
            assert f"is at schema 0009, this tgw needs {head_revision()}" in result.stderr
            assert "run `tgw migrate` first" in result.stderr
            assert "Traceback" not in result.stderr
        assert await _alembic_version(db_url) == ["0009"]
        assert await _tables(db_url) == before

        assert (await run("migrate")).returncode == 0
        assert await _alembic_version(db_url) == [head_revision()]
        status = await run("status")
        assert (status.returncode, status.stdout.strip()) == (
            0,
            "no instances yet (run tgw serve once)",
        )
        assert as_json(await run("clients", "list", "--json")) == []
        assert (await run("recipients", "list")).stdout.strip() == "no recipients"


async def test_a_database_migrated_by_a_newer_tgw_is_not_sent_to_tgw_migrate(
    tmp_path: Path,
) -> None:
    import asyncio
    import sqlite3

    from app.migrate import upgrade

    url = f"sqlite:///{tmp_path}/tgw.db"
    (tmp_path / "tgw.toml").write_text(f'[database]\nurl = "{url}"\n')
    await asyncio.to_thread(upgrade, url)
    with sqlite3.connect(tmp_path / "tgw.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    result = await asyncio.to_thread(tgw, tmp_path, "status")
    assert result.returncode == 1
    assert "is at schema 9999, which this tgw does not know" in result.stderr
    assert "tgw migrate" not in result.stderr
