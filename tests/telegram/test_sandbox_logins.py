"""Logins from other devices and the account's sessions, through the sandbox in-process:
POST /admin/sandbox/{n}/new-login announces a login as Telegram does (updateNewAuthorization and
the 777000 notice); it becomes one account.login_alert; GET/DELETE .../sessions list and end
sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from app.cluster.ownership import start_instances
from app.main import create_app
from app.models import InboundMessage, Recipient
from app.services import Services, build_services
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, make_settings
from tests.inbound.webhooks.helpers import Receiver, add_endpoint, delivery_worker, public_dns

DEVICE = "Pixel 8, Android 15"
LOCATION = "Lisbon, Portugal"


async def new_login(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post(
        "/admin/sandbox/1/new-login",
        json={"device": DEVICE, "location": LOCATION, **body},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["handled"] is True
    return answer


async def sessions(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/admin/instances/1/sessions", headers=ADMIN)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def events(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get("/api/v1/events?after=0&limit=1000", headers=headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_a_login_from_another_device_is_one_alert_event_and_reaches_a_webhook(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    services.resolve_host = public_dns
    await add_endpoint(services, events=["account.login_alert"])
    answer = await new_login(http)
    alerts = [e for e in await events(http, api_client) if e["type"] == "account.login_alert"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["instance_id"] == 1 and alert["gateway_number"]
    data = alert["data"]
    assert data["hash"] == answer["hash"]
    assert (data["source"], data["device"], data["unconfirmed"]) == ("update", DEVICE, True)
    assert data["location"] == LOCATION
    assert data["date"].startswith("2026-11-25T12:00:00")
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        for _ in range(3):
            await worker.step()
    assert [b["type"] for b in receiver.bodies] == ["account.login_alert"]
    assert receiver.bodies[0]["data"]["hash"] == answer["hash"]


async def test_the_777000_notice_is_not_answered_stored_or_forwarded(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await new_login(http)
    types = [e["type"] for e in await events(http, api_client)]
    assert "message.received" not in types and "recipient.registered" not in types
    async with services.database.read() as session:
        assert list(await session.scalars(select(InboundMessage))) == []
        assert list(await session.scalars(select(Recipient))) == []
    sent = await http.get("/admin/sandbox/1/sent", headers=ADMIN)
    assert sent.json()["data"] == []  # no reply, no registration hint


async def test_sessions_list_the_gateways_own_first_and_the_other_device(
    http: httpx.AsyncClient,
) -> None:
    before = await sessions(http)
    assert len(before) == 1 and before[0]["current"] is True
    answer = await new_login(http)
    listed = await sessions(http)
    assert [s["current"] for s in listed] == [True, False]
    other = listed[1]
    assert other["hash"] == answer["hash"] and other["device_model"] == DEVICE
    assert other["country"] == LOCATION and other["official_app"] is True
    assert other["date_created"].endswith("Z") and other["password_pending"] is False
    assert set(other) == {
        "hash",
        "current",
        "device_model",
        "platform",
        "system_version",
        "app_name",
        "app_version",
        "ip",
        "country",
        "region",
        "date_created",
        "date_active",
        "official_app",
        "password_pending",
    }


async def test_ending_the_other_session_removes_it(http: httpx.AsyncClient) -> None:
    answer = await new_login(http)
    response = await http.delete(f"/admin/instances/1/sessions/{answer['hash']}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"hash": answer["hash"], "ended": True}
    assert [s["current"] for s in await sessions(http)] == [True]
    again = await http.delete(f"/admin/instances/1/sessions/{answer['hash']}", headers=ADMIN)
    assert again.status_code == 404


async def test_ending_the_gateways_own_session_is_refused_with_409(
    http: httpx.AsyncClient,
) -> None:
    own = (await sessions(http))[0]
    response = await http.delete(f"/admin/instances/1/sessions/{own['hash']}", headers=ADMIN)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "current_session" and "logout" in error["message"]
    assert (await sessions(http))[0]["hash"] == own["hash"]  # still there


async def test_an_unknown_hash_is_404_and_a_non_numeric_one_400(http: httpx.AsyncClient) -> None:
    unknown = await http.delete("/admin/instances/1/sessions/12345", headers=ADMIN)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for bad in ("abc", "12x", "1_000", "99999999999999999999", "%20"):
        response = await http.delete(f"/admin/instances/1/sessions/{bad}", headers=ADMIN)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_field"


async def test_sessions_of_an_instance_that_is_not_logged_in_are_409(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.post("/admin/instances/1/logout", headers=ADMIN)).status_code == 200
    listing = await http.get("/admin/instances/1/sessions", headers=ADMIN)
    assert listing.status_code == 409 and listing.json()["error"]["code"] == "not_logged_in"
    ending = await http.delete("/admin/instances/1/sessions/5", headers=ADMIN)
    assert ending.status_code == 409 and ending.json()["error"]["code"] == "not_logged_in"
    login = await http.post("/admin/sandbox/1/new-login", json={}, headers=ADMIN)
    assert login.status_code == 409


async def test_a_new_gateway_login_is_a_new_current_session(http: httpx.AsyncClient) -> None:
    first = (await sessions(http))[0]["hash"]
    await http.post("/admin/instances/1/logout", headers=ADMIN)
    await http.post("/admin/instances/1/login", json={"phone": "4915123456789"}, headers=ADMIN)
    await http.post("/admin/instances/1/login/code", json={"code": "12345"}, headers=ADMIN)
    listed = await sessions(http)
    assert len(listed) == 1 and listed[0]["current"] and listed[0]["hash"] != first


async def test_sessions_need_the_admin_token(http: httpx.AsyncClient) -> None:
    assert (await http.get("/admin/instances/1/sessions")).status_code == 401
    assert (await http.delete("/admin/instances/1/sessions/1")).status_code == 401
    assert (await http.post("/admin/sandbox/1/new-login", json={})).status_code == 401
    unknown = await http.get("/admin/instances/9/sessions", headers=ADMIN)
    assert unknown.status_code == 404


async def test_the_instance_shows_its_latest_login_alerts(http: httpx.AsyncClient) -> None:
    assert (await http.get("/admin/instances/1", headers=ADMIN)).json()["login_alerts"] == []
    first = await new_login(http, device="iPhone 15")
    second = await new_login(http, device="Firefox 133")
    shown = (await http.get("/admin/instances/1", headers=ADMIN)).json()["login_alerts"]
    assert [(a["hash"], a["device"]) for a in shown] == [
        (second["hash"], "Firefox 133"),
        (first["hash"], "iPhone 15"),
    ]
    assert all(a["id"].startswith("evt_") for a in shown)


async def test_a_webhook_can_subscribe_to_login_alerts_alone(services: Services, http: Any) -> None:
    services.resolve_host = public_dns
    response = await http.post(
        "/admin/webhooks",
        json={"url": "https://hooks.example.com/tgw", "events": ["account.login_alert"]},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    assert response.json()["events"] == ["account.login_alert"]


async def test_only_the_process_that_owns_the_session_lists_or_ends_sessions(
    schema: str, clock: Clock
) -> None:
    first = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    second = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    tasks = [
        *await start_instances(first, workers=False),
        *await start_instances(second, workers=False),
    ]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(second)), base_url="http://b"
        ) as http_b:
            for method, path in (("GET", "/sessions"), ("DELETE", "/sessions/5")):
                response = await http_b.request(method, f"/admin/instances/1{path}", headers=ADMIN)
                assert response.status_code == 409, path
                assert "Another tgw process" in response.json()["error"]["message"]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for svc in (first, second):
            for backend in svc.telegram.backends.values():
                await backend.stop()
            await svc.close()
