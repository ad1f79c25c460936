"""The gateway's files are private to its user, whatever the umask it was started with.

A real `tgw serve --sandbox` (and `tgw migrate`, `tgw admin-token`) run with umask 022, under
which a file is made 0644 unless its creator says otherwise.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.test_serve_process import (
    PERSON,
    ServeHarness,
    child_env,
    create_client,
    message_status,
    register,
)
from tests.waiting import eventually

PERMISSIVE_UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_serve_makes_the_database_its_wal_lock_and_key_files_0600_in_a_0700_folder(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"  # does not exist yet: the gateway makes it
    harness = ServeHarness(tmp_path, umask=PERMISSIVE_UMASK)
    harness.write_config(database={"url": f"sqlite:///{data}/tgw.db"})
    try:
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            api = await create_client(http, harness)
            await register(http, harness, PERSON, "Hi")
            sent = await http.post(
                "/v3/telegram/single/text/message/1",
                json={"number": PERSON, "message": "private"},
                headers=api,
            )
            assert sent.status_code == 200, sent.text

            async def is_sent() -> str | None:
                status = await message_status(http, api, sent.json()["id"])
                return status if status == "sent" else None

            await eventually(is_sent, "the message to be sent", timeout_s=10.0, interval_s=0.1)
        files = {
            name: mode(data / name)
            for name in ("tgw.db", "tgw.db-wal", "tgw.db-shm", "tgw.db.instance-1.lock", "tgw.key")
        }
        assert files == dict.fromkeys(files, 0o600)
        assert mode(data) == 0o700
    finally:
        harness.stop_all()


def run_tgw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args, "--config", str(tmp_path / "tgw.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=child_env(),
        umask=PERMISSIVE_UMASK,
    )


def test_files_found_open_to_others_are_narrowed_with_a_warning_and_the_folder_is_kept(
    tmp_path: Path,
) -> None:
    data = tmp_path / "shared"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # the user's own folder, mode and all
    (tmp_path / "tgw.toml").write_text(f'[database]\nurl = "sqlite:///{data}/tgw.db"\n')
    for name in ("tgw.db", "tgw.admin-token"):
        (data / name).write_bytes(b"" if name == "tgw.db" else b"an-old-token\n")
        (data / name).chmod(0o644)

    migrated = run_tgw(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    token = run_tgw(tmp_path, "admin-token")
    assert token.stdout.strip() == "an-old-token"

    assert mode(data / "tgw.db") == 0o600
    assert mode(data / "tgw.admin-token") == 0o600
    assert mode(data) == 0o755
    assert f"{data / 'tgw.db'} was open to other users (mode 0644); it is now 0600" in (
        migrated.stderr
    )
    assert "tgw.admin-token was open to other users" in token.stderr


def test_a_database_folder_that_does_not_exist_is_made_0700(tmp_path: Path) -> None:
    data = tmp_path / "var" / "tgw"
    (tmp_path / "tgw.toml").write_text(f'[database]\nurl = "sqlite:///{data}/tgw.db"\n')
    migrated = run_tgw(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert (mode(tmp_path / "var"), mode(data), mode(data / "tgw.db")) == (0o700, 0o700, 0o600)
    # The lock that has processes starting together migrate one after another.
    assert sorted(os.listdir(data)) == ["tgw.db", "tgw.db.migrate.lock"]
    assert mode(data / "tgw.db.migrate.lock") == 0o600
