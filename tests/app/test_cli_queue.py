"""`tgw queue pause|resume`: a real process holds and releases an instance's send queue."""

from __future__ import annotations

from pathlib import Path

from tests.app.test_cli import as_json, tgw

SANDBOX = '[[instances]]\nnumber = 1\nbackend = "sandbox"\n'


def _config(tmp_path: Path) -> None:
    (tmp_path / "tgw.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/tgw.db"\n\n{SANDBOX}'
    )


def test_pause_is_kept_and_shown_by_status_until_resume(tmp_path: Path) -> None:
    _config(tmp_path)
    paused = as_json(tgw(tmp_path, "queue", "pause", "1", "--json"))
    assert paused["instance"] == 1 and paused["queue_paused_at"]
    again = as_json(tgw(tmp_path, "queue", "pause", "1", "--json"))
    assert again["queue_paused_at"] == paused["queue_paused_at"]  # the first pause's time
    (row,) = as_json(tgw(tmp_path, "status", "--json"))
    assert row["queue_paused_at"] == paused["queue_paused_at"]
    assert "paused since" in tgw(tmp_path, "status").stdout

    resumed = as_json(tgw(tmp_path, "queue", "resume", "1", "--json"))
    assert resumed == {"instance": 1, "queue_paused_at": None}
    (row,) = as_json(tgw(tmp_path, "status", "--json"))
    assert row["queue_paused_at"] is None
    assert "paused" not in tgw(tmp_path, "status").stdout


def test_an_unconfigured_instance_is_refused_with_a_message(tmp_path: Path) -> None:
    _config(tmp_path)
    result = tgw(tmp_path, "queue", "pause", "7")
    assert result.returncode == 1
    assert "Invalid gateway instance number 7" in result.stderr
