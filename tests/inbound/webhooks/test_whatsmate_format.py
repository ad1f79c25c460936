"""Endpoints of format "whatsmate": message.received only, in the hosted WhatsMate gateway's
body, signed, retried and guarded like every delivery; the token sealed at rest."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from app.models import WebhookDelivery, WebhookEndpoint
from app.services import Services
from inbound.webhooks.endpoints import create_endpoint
from inbound.webhooks.formats import whatsmate_type
from tests.conftest import ADMIN, Clock, drain, say
from tests.inbound.webhooks.helpers import (
    URL,
    Receiver,
    deliveries,
    delivery_worker,
    now_clock,
    private_dns,
    public_dns,
)

PERSON = "34612345678"
TOKEN = "wm-token-8f2a"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def clock() -> Clock:
    return now_clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_delivery": {"retry_schedule_s": [5.0]}}


async def whatsmate_endpoint(services: Services, token: str | None = TOKEN) -> tuple[str, str]:
    async with services.database.write() as session:
        endpoint, secret = await create_endpoint(
            session,
            services.secret_box,
            url=URL,
            events=None,
            now=services.clock(),
            format_="whatsmate",
            token=token,
        )
    return endpoint.id, secret


async def gateway_number(http: httpx.AsyncClient) -> str:
    phone: str = (await http.get("/admin/instances/1", headers=ADMIN)).json()["phone"]
    return phone


async def test_a_received_text_comes_in_whatsmates_body_signed(
    http: httpx.AsyncClient, services: Services
) -> None:
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi")
    _, secret = await whatsmate_endpoint(services)
    await say(http, PERSON, "Is my order shipped?")
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [request] = receiver.requests
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert body == {
        "token": TOKEN,
        "type": "individual",
        "instance_id": "1",
        "gateway_number": await gateway_number(http),
        "number": PERSON,
        "message": "Is my order shipped?",
    }
    assert request.headers["webhook-id"].startswith("evt_")
    assert request.headers["content-type"] == "application/json"


async def test_a_whatsmate_endpoint_gets_nothing_but_received_messages(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str], worker: Any
) -> None:
    services.resolve_host = public_dns
    endpoint_id, _ = await whatsmate_endpoint(services, token=None)
    await say(http, PERSON, "Hi")  # recipient.registered: not for this endpoint
    sent = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": PERSON, "message": "Welcome"},
        headers=api_client,
    )
    assert sent.status_code == 200
    await drain(worker)  # message.sent: not for it either
    await say(http, PERSON, "thanks")
    receiver = Receiver()
    async with delivery_worker(services, receiver) as hooks:
        for _ in range(3):
            await hooks.step()
    assert [d.event_type for d in await deliveries(services, endpoint_id)] == ["message.received"]
    [body] = receiver.bodies
    assert (body["number"], body["message"], body["token"]) == (PERSON, "thanks", None)


async def test_a_caption_is_the_message_and_a_bare_medium_an_empty_one(
    http: httpx.AsyncClient, services: Services
) -> None:
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi")
    await whatsmate_endpoint(services)
    media = {"kind": "image", "filename": "dot.png", "base64": base64.b64encode(PNG).decode()}
    for extra in ({"text": "my receipt"}, {}):
        message = {"from": {"number": PERSON, "first_name": "Ana"}, "media": media, **extra}
        answer = await http.post("/admin/sandbox/1/inbound", json=message, headers=ADMIN)
        assert answer.status_code == 200 and answer.json()["handled"], answer.text
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        for _ in range(3):
            await worker.step()
    assert [b["message"] for b in receiver.bodies] == ["my receipt", ""]


async def test_a_location_is_a_pin_with_its_point_and_a_venue_its_title(
    http: httpx.AsyncClient, services: Services
) -> None:
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi")
    await whatsmate_endpoint(services)
    point = {"latitude": 40.4153, "longitude": -3.6845}
    for location in (point, {**point, "title": "Retiro", "address": "Plaza 7"}):
        message = {"from": {"number": PERSON}, "location": location}
        answer = await http.post("/admin/sandbox/1/inbound", json=message, headers=ADMIN)
        assert answer.status_code == 200 and answer.json()["handled"], answer.text
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        for _ in range(3):
            await worker.step()
    assert [b["message"] for b in receiver.bodies] == [
        "📍 40.4153,-3.6845",
        "📍 40.4153,-3.6845 Retiro",
    ]


def test_a_group_message_is_of_type_group() -> None:
    assert whatsmate_type({"group_name": "Riders"}) == "group"
    assert whatsmate_type({"group_name": None}) == "individual"
    assert whatsmate_type({"sender": {"number": PERSON}}) == "individual"
    assert whatsmate_type({"group": {"id": 5, "title": "Riders"}}) == "group"
    assert whatsmate_type({"group": None, "mentioned": False}) == "individual"


async def test_a_whatsmate_delivery_is_retried_like_any_other(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi")
    _, secret = await whatsmate_endpoint(services)
    await say(http, PERSON, "again?")
    receiver = Receiver()
    receiver.answers = [503]
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
        clock.advance(10)
        assert await worker.step() == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert Webhook(secret).verify(second.content, dict(second.headers))["message"] == "again?"
    [delivery] = await deliveries(services)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


async def test_a_private_whatsmate_target_is_refused_before_sending(
    http: httpx.AsyncClient, services: Services
) -> None:
    services.resolve_host = private_dns
    await say(http, PERSON, "Hi")
    await whatsmate_endpoint(services)
    await say(http, PERSON, "hello")
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    assert receiver.requests == []
    [delivery] = await deliveries(services)
    assert delivery.last_error is not None and "target refused" in delivery.last_error


async def test_the_token_is_sealed_at_rest_and_not_in_the_delivery_rows(
    http: httpx.AsyncClient, services: Services
) -> None:
    services.resolve_host = public_dns
    endpoint_id, _ = await whatsmate_endpoint(services)
    queued = await http.post(f"/admin/webhooks/{endpoint_id}/test", headers=ADMIN)
    assert queued.status_code == 202, queued.text
    assert queued.json()["event"] == {
        "token": TOKEN,
        "type": "webhook.test",
        "message": "A test event from tgw.",
    }
    async with services.database.read() as session:
        stored = await session.get(WebhookEndpoint, endpoint_id)
        rows = list(await session.scalars(select(WebhookDelivery)))
    assert stored is not None and stored.token is not None
    assert TOKEN.encode() not in stored.token
    assert all(TOKEN not in (r.payload or "") for r in rows)
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    # The test body a WhatsMate-style receiver gets has no number: it writes to no one.
    assert receiver.bodies == [queued.json()["event"]]


async def test_a_token_sealed_under_another_key_fails_the_attempt_saying_so(
    http: httpx.AsyncClient, services: Services
) -> None:
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi")
    endpoint_id, _ = await whatsmate_endpoint(services)
    async with services.database.write() as session:
        stored = await session.get(WebhookEndpoint, endpoint_id)
        assert stored is not None
        stored.token = services.secret_box.seal_token("ep_another", TOKEN)
    await say(http, PERSON, "hello")
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    assert receiver.requests == []
    [delivery] = await deliveries(services)
    assert delivery.status == "pending"
    assert delivery.last_error is not None and "token does not open" in delivery.last_error
    assert TOKEN not in delivery.last_error


async def test_switching_a_standard_endpoint_to_whatsmate_changes_the_body_of_what_is_due(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    """The body is rendered at each attempt, from the endpoint as it is then."""
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi")
    created = await http.post(
        "/admin/webhooks", json={"url": URL, "events": ["message.received"]}, headers=ADMIN
    )
    endpoint_id = created.json()["id"]
    await say(http, PERSON, "first")
    receiver = Receiver()
    receiver.answers = [500]
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
        patched = await http.patch(
            f"/admin/webhooks/{endpoint_id}",
            json={"format": "whatsmate", "token": TOKEN},
            headers=ADMIN,
        )
        assert patched.status_code == 200, patched.text
        clock.advance(10)
        assert await worker.step() == 1
    standard, whatsmate = receiver.bodies
    assert standard["type"] == "message.received" and "data" in standard
    assert whatsmate["token"] == TOKEN and whatsmate["message"] == "first"
    assert orjson.dumps(sorted(whatsmate)) == orjson.dumps(
        sorted(["token", "type", "instance_id", "gateway_number", "number", "message"])
    )
