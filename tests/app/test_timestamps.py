"""One timestamp format everywhere: UTC with a `Z`, in the API, the events and their data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from app.timestamps import iso, iso_or_none
from tests.conftest import ADMIN, drain, say

NUMBER = "34612345678"
# A string that looks like a moment: it must be in the one format.
MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
ONE_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def test_aware_naive_and_other_zones_all_come_out_in_utc_with_z() -> None:
    moment = datetime(2026, 12, 3, 15, 20, 7, 123456, tzinfo=UTC)
    assert iso(moment) == "2026-12-03T15:20:07.123456Z"
    assert iso(moment.replace(tzinfo=None)) == "2026-12-03T15:20:07.123456Z"
    madrid = moment.astimezone(timezone(timedelta(hours=1)))
    assert iso(madrid) == "2026-12-03T15:20:07.123456Z"
    assert iso(moment.replace(microsecond=0)) == "2026-12-03T15:20:07Z"
    assert iso_or_none(None) is None


def moments(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in `value` that looks like a moment, with where it is."""
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in moments(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in moments(v, f"{path}[{i}]")]
    if isinstance(value, str) and MOMENT.match(value):
        return [(path, value)]
    return []


async def test_api_answers_and_event_bodies_use_one_format(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    sent = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": NUMBER, "message": "Your order shipped"},
        headers=api_client,
    )
    assert sent.status_code == 200, sent.text
    await drain(worker)
    await say(http, NUMBER, "Thanks!")
    read = await http.post(
        "/admin/sandbox/1/read", json={"number": NUMBER, "max_message_id": 10**6}, headers=ADMIN
    )
    assert read.status_code == 200, read.text
    await drain(worker)

    answers = [
        await http.get(f"/api/v1/messages/{sent.json()['id']}", headers=api_client),
        await http.get("/api/v1/messages", headers=api_client),
        await http.get("/api/v1/recipients", headers=api_client),
        await http.get("/api/v1/events", headers=api_client),
        await http.get("/admin/instances", headers=ADMIN),
        await http.get("/admin/clients", headers=ADMIN),
    ]
    found: list[tuple[str, str]] = []
    for answer in answers:
        assert answer.status_code == 200, answer.text
        found += moments(answer.json(), str(answer.url.path))
    events = answers[3].json()["data"]
    types = {event["type"] for event in events}
    assert {"message.received", "message.sent", "message.read", "recipient.registered"} <= types
    # The data of message.sent/read and message.received carry moments of their own.
    assert any(".data." in path for path, _ in found), found
    wrong = [(path, value) for path, value in found if not ONE_FORMAT.match(value)]
    assert not wrong, wrong


def test_no_module_formats_a_moment_on_its_own() -> None:
    """Every datetime leaves through app/timestamps.py; a `.isoformat()` of a datetime anywhere
    else would bring back a second format. A date (`.date().isoformat()`, a day) is not a moment.
    """
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("app", "inbound", "outbound"):
        for path in sorted((root / folder).rglob("*.py")):
            if path == root / "app" / "timestamps.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "isoformat"
                ):
                    continue
                target = node.func.value
                is_date = (
                    isinstance(target, ast.Call)
                    and isinstance(target.func, ast.Attribute)
                    and target.func.attr == "date"
                )
                if not is_date:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, offenders
