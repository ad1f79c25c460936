"""Logins from other devices and the account's sessions over the Telethon backend: real Telethon
against the fake MTProto server, which announces a login as Telegram does (UpdateNewAuthorization,
then the "New login" message of 777000) and implements account.getAuthorizations and
account.resetAuthorization."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from app.cluster.ownership import make_worker
from app.models import Event, InboundMessage, LoginAlertRecord, Recipient
from app.services import Services
from tests.conftest import ADMIN, Clock, drain
from tests.inbound.webhooks.helpers import (
    Receiver,
    add_endpoint,
    delivery_worker,
    now_clock,
    public_dns,
)
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.test_telethon_backend import (
    GATEWAY_PHONE,
    gateway,
    logged_in_beforehand,
)
from tests.waiting import eventually

DEVICE = "Pixel 8"
WHERE = "Lisbon, Portugal"
IP = "198.51.100.4"


@pytest.fixture
def clock() -> Clock:
    return now_clock()  # webhook signatures are checked against the real time


async def alert_events(services: Services) -> list[dict[str, Any]]:
    async with services.database.read() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == "account.login_alert").order_by(Event.seq)
        )
        return [orjson.loads(r.payload)["data"] for r in rows]


async def paired(services: Services) -> bool:
    """The update and the notice of the login have both been handled."""
    async with services.database.read() as session:
        rows = list(await session.scalars(select(LoginAlertRecord)))
    return (
        len(rows) == 1 and rows[0].auth_hash is not None and rows[0].notice_message_id is not None
    )


async def sessions(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/admin/instances/1/sessions", headers=ADMIN)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_a_login_from_another_device_is_one_alert_delivered_to_a_webhook(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE, first_name="Acme")
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, http):
        services.resolve_host = public_dns
        _, secret = await add_endpoint(services, events=["account.login_alert"])
        other = fake.new_login(account, device=DEVICE, location=WHERE, ip=IP)
        await eventually(lambda: paired(services), "the update and the notice")
        [data] = await alert_events(services)
        assert data["hash"] == str(other.auth_hash)
        assert (data["source"], data["unconfirmed"], data["device"]) == ("update", True, DEVICE)
        assert data["location"] == f"{WHERE} (IP = {IP})"
        assert data["instance"] == 1 and data["text"] is None
        receiver = Receiver()
        async with delivery_worker(services, receiver) as worker:
            for _ in range(3):
                await worker.step()
        [body] = [Webhook(secret).verify(r.content, dict(r.headers)) for r in receiver.requests]
        assert body["type"] == "account.login_alert"
        assert body["gateway_number"] == GATEWAY_PHONE
        assert body["data"]["hash"] == str(other.auth_hash)
        shown = (await http.get("/admin/instances/1", headers=ADMIN)).json()["login_alerts"]
        assert [a["hash"] for a in shown] == [str(other.auth_hash)]


async def test_the_777000_notice_gets_no_reply_and_is_no_message_received(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, _http):
        fake.new_login(account, device=DEVICE, location=WHERE)
        await eventually(lambda: paired(services), "the update and the notice")
        await drain(make_worker(services, 1))
        assert fake.sent_to(fake.service_user()) == []
        async with services.database.read() as session:
            assert list(await session.scalars(select(InboundMessage))) == []
            assert list(await session.scalars(select(Recipient))) == []
            types = set(await session.scalars(select(Event.type)))
        assert "message.received" not in types
        assert len(await alert_events(services)) == 1


async def test_a_login_while_the_gateway_was_down_is_announced_by_the_notice(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    await logged_in_beforehand(schema, clock, fake)
    fake.new_login(account, device=DEVICE, location=WHERE, ip=IP)  # the update is lost
    async with gateway(schema, clock, fake) as (services, _http):
        [data] = await eventually(lambda: alert_events(services), "the alert from catch-up")
        assert (data["source"], data["hash"], data["unconfirmed"]) == (
            "service_notice",
            None,
            None,
        )
        assert data["device"] == f"{DEVICE}, 5.0, Windows 10"
        assert data["location"] == f"{WHERE} (IP = {IP})"
        assert data["text"].startswith("New login.")


async def test_sessions_list_the_gateway_and_the_other_device_and_end_the_other(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (_services, http):
        other = fake.new_login(account, device=DEVICE, location=WHERE, ip=IP)
        listed = await sessions(http)
        assert [s["current"] for s in listed] == [True, False]
        own, theirs = listed
        assert own["device_model"] == "tgw gateway" and own["app_version"] == "tgw"
        assert theirs["hash"] == str(other.auth_hash)
        assert (theirs["device_model"], theirs["ip"], theirs["official_app"]) == (DEVICE, IP, True)
        assert (theirs["country"], theirs["region"]) == ("Portugal", "Lisbon")
        assert theirs["date_created"].endswith("Z")
        ended = await http.delete(f"/admin/instances/1/sessions/{theirs['hash']}", headers=ADMIN)
        assert ended.status_code == 200, ended.text
        assert ended.json() == {"hash": theirs["hash"], "ended": True}
        assert not fake.key_alive(other)  # at Telegram, that key is logged out
        assert [s["hash"] for s in await sessions(http)] == [own["hash"]]
        again = await http.delete(f"/admin/instances/1/sessions/{theirs['hash']}", headers=ADMIN)
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


async def test_ending_the_gateways_own_session_is_refused_and_never_sent(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (_services, http):
        own = (await sessions(http))[0]
        response = await http.delete(f"/admin/instances/1/sessions/{own['hash']}", headers=ADMIN)
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "current_session" and "logout" in error["message"]
        assert fake.requests_of("ResetAuthorizationRequest") == []
        assert [s["hash"] for s in await sessions(http)] == [own["hash"]]


async def test_session_errors_unknown_not_a_number_and_too_new(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (_services, http):
        unknown = await http.delete("/admin/instances/1/sessions/-4242", headers=ADMIN)
        assert unknown.status_code == 404  # Telegram: HASH_INVALID
        bad = await http.delete("/admin/instances/1/sessions/twelve", headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_field"
        other = fake.new_login(account)
        fake.fresh_reset_s = 24 * 3600  # the gateway's session is younger than a day
        young = await http.delete(f"/admin/instances/1/sessions/{other.auth_hash}", headers=ADMIN)
        assert young.status_code == 409 and young.json()["error"]["code"] == "session_too_new"
        assert fake.key_alive(other)


async def test_sessions_of_an_instance_never_logged_in_are_409(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (_services, http):
        listing = await http.get("/admin/instances/1/sessions", headers=ADMIN)
        assert listing.status_code == 409 and listing.json()["error"]["code"] == "not_logged_in"
        ending = await http.delete("/admin/instances/1/sessions/1", headers=ADMIN)
        assert ending.status_code == 409 and ending.json()["error"]["code"] == "not_logged_in"
