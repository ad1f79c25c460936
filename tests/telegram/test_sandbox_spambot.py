"""The @SpamBot check through the sandbox in-process: POST /admin/sandbox/{n}/spambot sets what
the simulated bot answers; POST /admin/instances/{n}/check reads it and sets the status."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.models import Event, InboundMessage, Instance
from app.services import Services
from app.telegram.port import ConnectionChanged
from app.telegram.spambot import NOT_LIMITED_REPLY
from app.timestamps import iso
from inbound.processor import InboundProcessor
from tests.conftest import ADMIN, Clock
from tests.telegram.test_spambot import FROZEN, LIMITED_UNTIL


async def set_reply(http: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await http.post("/admin/sandbox/1/spambot", json=body, headers=ADMIN)


async def check(http: httpx.AsyncClient) -> httpx.Response:
    return await http.post("/admin/instances/1/check", headers=ADMIN)


async def instance(services: Services) -> Instance:
    async with services.database.read() as session:
        row = await session.get(Instance, 1)
    assert row is not None
    return row


async def status_events(services: Services) -> list[dict[str, Any]]:
    async with services.database.read() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == "instance.status").order_by(Event.seq)
        )
        return [dict(json.loads(row.payload)["data"]) for row in rows]


async def test_a_clean_sandbox_account_checks_ok_and_stays_ready(
    services: Services, http: httpx.AsyncClient, clock: Clock
) -> None:
    before = await status_events(services)
    response = await check(http)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["condition"] == "ok" and answer["reply"] == NOT_LIMITED_REPLY
    assert answer["until"] is None
    assert answer["status"] == "ready"
    assert answer["checked_at"] == iso(clock())
    assert await status_events(services) == before  # nothing changed, nothing logged


async def test_a_limited_reply_restricts_without_pausing_and_an_ok_one_makes_it_ready_again(
    services: Services, http: httpx.AsyncClient
) -> None:
    setting = await set_reply(http, {"reply": LIMITED_UNTIL})
    assert setting.status_code == 200, setting.text
    assert setting.json() == {"reply": LIMITED_UNTIL, "condition": "restricted"}
    response = await check(http)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["condition"] == "restricted"
    assert answer["until"] == "2027-01-03T12:00:00Z"
    assert answer["status"] == "restricted"
    row = await instance(services)
    assert row.status == "restricted" and row.paused_until is None
    assert row.status_detail is not None and len(row.status_detail) <= 255
    assert row.status_detail.startswith("@SpamBot: I’m afraid some Telegram users")
    assert row.status_detail.endswith("(until 2027-01-03 12:00 UTC)")
    last = (await status_events(services))[-1]
    assert (last["status"], last["previous_status"]) == ("restricted", "ready")
    assert last["detail"] == row.status_detail
    # The same answer again changes nothing and logs nothing.
    count = len(await status_events(services))
    assert (await check(http)).status_code == 200
    assert len(await status_events(services)) == count
    # Back to the default ({} or null): ok, and ready again.
    assert (await set_reply(http, {})).json()["condition"] == "ok"
    answer = (await check(http)).json()
    assert (answer["condition"], answer["status"]) == ("ok", "ready")
    row = await instance(services)
    assert (row.status, row.status_detail) == ("ready", None)
    last = (await status_events(services))[-1]
    assert (last["status"], last["previous_status"]) == ("ready", "restricted")


async def test_a_frozen_reply_sets_frozen(services: Services, http: httpx.AsyncClient) -> None:
    await set_reply(http, {"reply": FROZEN})
    answer = (await check(http)).json()
    assert (answer["condition"], answer["status"]) == ("frozen", "frozen")
    assert (await instance(services)).status == "frozen"


async def test_an_ok_check_leaves_a_pending_peer_flood_pause_to_the_worker(
    services: Services, http: httpx.AsyncClient, clock: Clock
) -> None:
    async with services.database.write() as session:
        row = await session.get(Instance, 1)
        assert row is not None
        row.status, row.status_detail = "restricted", "PEER_FLOOD"
        row.paused_until = clock() + timedelta(hours=1)
    answer = (await check(http)).json()
    assert (answer["condition"], answer["status"]) == ("ok", "restricted")
    assert (await instance(services)).status_detail == "PEER_FLOOD"


async def test_an_unknown_reply_is_a_502_with_its_text_and_changes_nothing(
    services: Services, http: httpx.AsyncClient
) -> None:
    setting = await set_reply(http, {"reply": "Hello! Choose an option below."})
    assert setting.json()["condition"] is None
    before = await status_events(services)
    response = await check(http)
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "spambot_unrecognised"
    assert "Could not interpret @SpamBot's reply" in error["message"]
    assert error["reply"] == "Hello! Choose an option below."
    assert (await instance(services)).status == "ready"
    assert await status_events(services) == before


async def test_the_check_of_a_logged_out_instance_is_409_not_logged_in(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.post("/admin/instances/1/logout", headers=ADMIN)).status_code == 200
    response = await check(http)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "not_logged_in"


async def test_bad_spambot_settings_are_400_and_the_check_needs_the_admin_token(
    http: httpx.AsyncClient,
) -> None:
    for body in ({"reply": 5}, {"reply": "   "}, {"reply": "x" * 4097}):
        response = await set_reply(http, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_field"
    empty = await http.post("/admin/sandbox/1/spambot", headers=ADMIN)
    assert empty.status_code == 400
    assert (await http.post("/admin/instances/1/check")).status_code == 401
    assert (await http.post("/admin/instances/9/check", headers=ADMIN)).status_code == 404
    assert (await http.post("/admin/sandbox/9/spambot", json={}, headers=ADMIN)).status_code == (
        404
    )


async def test_the_check_never_becomes_a_received_message(
    services: Services, http: httpx.AsyncClient
) -> None:
    await set_reply(http, {"reply": LIMITED_UNTIL})
    assert (await check(http)).status_code == 200
    async with services.database.read() as session:
        assert list(await session.scalars(select(InboundMessage))) == []
        types = list(await session.scalars(select(Event.type)))
    assert "message.received" not in types


async def test_a_restriction_found_by_a_check_stays_through_a_reconnect(
    http: httpx.AsyncClient, services: Services
) -> None:
    body = {"reply": LIMITED_UNTIL}
    response = await http.post("/admin/sandbox/1/spambot", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    checked = await http.post("/admin/instances/1/check", headers=ADMIN)
    assert checked.json()["status"] == "restricted", checked.text
    processor = InboundProcessor(
        1,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
        services.stamps,
    )
    await processor.on_connection(ConnectionChanged("disconnected", "network lost; reconnecting"))
    await processor.on_connection(ConnectionChanged("ready"))
    view = (await http.get("/admin/instances/1", headers=ADMIN)).json()
    assert view["status"] == "restricted"
    assert view["status_detail"].startswith("@SpamBot")
