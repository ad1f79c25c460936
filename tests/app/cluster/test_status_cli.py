"""`tgw status` names each session's holder and, with several live processes, lists them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.app.test_cli import as_json, tgw


def stamp(delta_s: float) -> str:
    """A moment as the gateway stores it in SQLite (UTCDateTime)."""
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_status_shows_who_holds_each_session_and_the_live_processes(tmp_path: Path) -> None:
    (tmp_path / "tgw.toml").write_text(
        "[[instances]]\nnumber = 1\n[[instances]]\nnumber = 2\n[[instances]]\nnumber = 3\n"
    )
    assert tgw(tmp_path, "migrate").returncode == 0
    assert tgw(tmp_path, "send", "34612345678", "hello").returncode != 0  # makes the rows
    with sqlite3.connect(tmp_path / "tgw.db") as db:
        for pid, role, host in (
            (11, "worker", "node-a"),
            (12, "api", "node-b"),
            (13, "worker", "node-c"),
        ):
            db.execute(
                "INSERT INTO cluster_process (id, role, host, pid, address, max_sessions,"
                " started_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
                (f"{host}:{pid}:x", role, host, pid, stamp(-60), stamp(-1), stamp(30)),
            )
        db.execute(  # a process killed a while ago: its row expired, it counts no more
            "INSERT INTO cluster_process (id, role, host, pid, address, max_sessions, started_at,"
            " heartbeat_at, expires_at) VALUES ('node-d:14:x', 'worker', 'node-d', 14, NULL,"
            " NULL, ?, ?, ?)",
            (stamp(-600), stamp(-500), stamp(-470)),
        )
        for number, owner in ((1, "node-a:11:x"), (2, "node-c:13:x")):
            db.execute(
                "INSERT INTO instance_lease (instance, owner, token, expires_at, acquired_at)"
                " VALUES (?, ?, 1, ?, ?)",
                (number, owner, stamp(30), stamp(-60)),
            )
    shown = tgw(tmp_path, "status")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "  session   held by node-a pid 11 (node-a:11:x)" in lines
    assert "  session   held by node-c pid 13 (node-c:13:x)" in lines
    assert "  session   held by no process" in lines  # instance 3
    assert lines[-4:] == [
        "processes (fair share 2 instances per worker)",
        "  node-a pid 11 (worker): instances 1",
        "  node-b pid 12 (api): instances none",
        "  node-c pid 13 (worker): instances 2",
    ]
    rows = as_json(tgw(tmp_path, "status", "--json"))
    assert rows[0]["session_holder"] == {
        "id": "node-a:11:x",
        "host": "node-a",
        "pid": 11,
        "role": "worker",
        "address": None,
    }
    assert rows[2]["session_holder"] is None
