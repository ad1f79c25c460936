"""Per-message callbacks (inbound/webhooks/callbacks.py): a send's callback_url gets that
message's status events, signed with the client's callback secret, through the webhook
delivery queue; driven step by step with an httpx.MockTransport receiver."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import col
from standardwebhooks import Webhook

from app.cluster.ownership import make_worker
from app.models import WebhookEndpoint
from app.services import Services
from inbound.webhooks.callbacks import fan_out_callbacks
from tests.conftest import ADMIN, Clock, drain, say
from tests.inbound.webhooks.helpers import (
    Receiver,
    add_endpoint,
    deliveries,
    delivery_worker,
    now_clock,
    public_dns,
)

NUMBER = "34612345678"
CALLBACK = "https://cb.example.com/status?order=42"
SECRET_PATH = "/admin/clients/ops@example.com/callback-secret"


@pytest.fixture
def clock() -> Clock:
    return now_clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_delivery": {"retry_schedule_s": [5.0, 60.0], "timeout_s": 2}}


@pytest.fixture
def receiver(services: Services) -> Receiver:
    services.resolve_host = public_dns
    return Receiver()


@pytest.fixture
async def registered(http: httpx.AsyncClient, services: Services) -> Any:
    worker = make_worker(services, 1)
    await say(http, NUMBER, "Hi")
    await drain(worker)
    return worker


async def send(
    http: httpx.AsyncClient, headers: dict[str, str], text: str, callback: str | None = CALLBACK
) -> str:
    body: dict[str, Any] = {"to": NUMBER, "text": text}
    if callback is not None:
        body["callback_url"] = callback
    response = await http.post("/api/v1/messages", json=body, headers=headers)
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def secret(http: httpx.AsyncClient) -> str:
    response = await http.get(SECRET_PATH, headers=ADMIN)
    assert response.status_code == 200, response.text
    found: str = response.json()["secret"]
    return found


def at(receiver: Receiver, url: str = CALLBACK) -> list[httpx.Request]:
    return [r for r in receiver.requests if str(r.url) == url]


def verified(requests: list[httpx.Request], key: str) -> list[dict[str, Any]]:
    return [Webhook(key).verify(r.content, dict(r.headers)) for r in requests]


async def test_a_send_with_a_callback_url_gets_its_sent_and_read_events_signed(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    message_id = await send(http, api_client, "your order shipped")
    await drain(registered)
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert shown["callback_url"] == CALLBACK
    read = {"number": NUMBER, "max_message_id": shown["telegram_message_id"]}
    assert (await http.post("/admin/sandbox/1/read", json=read, headers=ADMIN)).status_code == 200
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1  # one conversation: the read waits for the sent
        assert await worker.step() == 1
    bodies = verified(at(receiver), await secret(http))
    assert [(b["type"], b["data"]["id"]) for b in bodies] == [
        ("message.sent", message_id),
        ("message.read", message_id),
    ]
    assert at(receiver)[0].headers["webhook-id"] == bodies[0]["id"]


async def test_only_the_events_of_that_message_reach_its_callback_url(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    await send(http, api_client, "no callback", callback=None)
    mine = await send(http, api_client, "with callback")
    await send(http, api_client, "another callback", callback="https://cb.example.com/other")
    await drain(registered)
    await drain(registered)
    await drain(registered)
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    bodies = verified(at(receiver), await secret(http))
    assert [(b["type"], b["data"]["id"]) for b in bodies] == [("message.sent", mine)]
    assert len(receiver.requests) == 2  # and one at the other URL, for its own message


async def test_a_cancelled_message_reports_message_failed_to_its_callback_url(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    message_id = await send(http, api_client, "cancel me")
    response = await http.post(f"/api/v1/messages/{message_id}/cancel", headers=api_client)
    assert response.status_code == 200, response.text
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [body] = verified(at(receiver), await secret(http))
    assert (body["type"], body["data"]["id"]) == ("message.failed", message_id)


async def test_a_callback_answered_500_or_timing_out_is_retried_with_the_same_webhook_id(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
    clock: Clock,
) -> None:
    await send(http, api_client, "retry me")
    await drain(registered)
    receiver.answers = [500, httpx.ReadTimeout("slow")]
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
        clock.advance(7)
        assert await worker.step() == 1
        clock.advance(75)
        assert await worker.step() == 1
    ids = [r.headers["webhook-id"] for r in at(receiver)]
    assert len(ids) == 3 and len(set(ids)) == 1
    [row] = [d for d in await deliveries(services) if d.endpoint_id.startswith("cb_")]
    assert (row.status, row.attempts) == ("delivered", 3)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://10.0.0.8/hook", "not a public address (private)"),
        ("https://[::ffff:127.0.0.1]/hook", "not a public address"),
        ("https://0x7f.1/hook", "not a public address"),
        ("http://localhost:8080/hook", "loopback name"),
        ("ftp://cb.example.com/hook", "must start with http:// or https://"),
        ("https://user:pw@cb.example.com/hook", "must not carry credentials"),
        ("https://cb.example.com/" + "a" * 2048, "longer than 2048 characters"),
        (42, "must be a non-empty string"),
    ],
)
async def test_a_bad_or_private_callback_url_is_refused_at_accept_with_a_clear_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: Any, url: Any, said: str
) -> None:
    body = {"to": NUMBER, "text": "x", "callback_url": url}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_callback_url"
    assert said in error["message"] and "callback_url" in error["message"]
    listed = (await http.get("/api/v1/messages", headers=api_client)).json()["data"]
    assert listed == []


@pytest.mark.parametrize(
    "settings_overrides", [{"webhook_delivery": {"allow_private_targets": True}}]
)
async def test_a_private_callback_url_is_accepted_where_the_deployment_allows_private_targets(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: Any
) -> None:
    message_id = await send(http, api_client, "lan", callback="http://10.0.0.8/hook")
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert shown["callback_url"] == "http://10.0.0.8/hook"


async def test_the_v3_send_takes_the_callback_url_from_the_x_callback_url_header(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    headers = {**api_client, "X-Callback-URL": CALLBACK}
    body = {"number": NUMBER, "message": "v3 with a header"}
    response = await http.post("/v3/telegram/single/text/message/1", json=body, headers=headers)
    assert response.status_code == 200, response.text
    message_id = response.json()["id"]
    await drain(registered)
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [body_sent] = verified(at(receiver), await secret(http))
    assert body_sent["data"]["id"] == message_id


async def test_the_v3_send_takes_the_callback_url_field_and_refuses_a_private_one(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: Any
) -> None:
    path = "/v3/telegram/single/text/message/1"
    body = {"number": NUMBER, "message": "v3", "callback_url": CALLBACK}
    accepted = await http.post(path, json=body, headers=api_client)
    assert accepted.status_code == 200, accepted.text
    shown = await http.get(f"/api/v1/messages/{accepted.json()['id']}", headers=api_client)
    assert shown.json()["callback_url"] == CALLBACK
    refused = await http.post(
        path, json={**body, "callback_url": "http://192.168.1.1/x"}, headers=api_client
    )
    assert refused.status_code == 400, refused.text
    # WhatsMate's error body: the message only (the code is in docs/errors.md).
    assert "192.168.1.1 is not a public address" in refused.json()["error_message"]
    differ = await http.post(
        path, json=body, headers={**api_client, "X-Callback-URL": "https://cb.example.com/b"}
    )
    assert differ.status_code == 400 and "differ" in differ.text


async def test_a_multipart_upload_takes_callback_url_as_a_form_field(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: Any
) -> None:
    response = await http.post(
        "/api/v1/messages",
        data={"to": NUMBER, "media_kind": "document", "callback_url": CALLBACK},
        files={"file": ("notes.txt", b"hello", "text/plain")},
        headers=api_client,
    )
    assert response.status_code == 202, response.text
    assert response.json()["callback_url"] == CALLBACK


async def test_after_a_rotation_callbacks_carry_the_new_and_the_old_signature(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    await send(http, api_client, "before")
    await drain(registered)
    old = await secret(http)
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
        rotated = await http.post(SECRET_PATH + "/rotate", headers=ADMIN)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old and rotated.json()["previous_secret_until"] is not None
        assert await secret(http) == new
        await send(http, api_client, "after")
        await drain(registered)
        await worker.step()
    first, second = at(receiver)
    assert len(first.headers["webhook-signature"].split()) == 1
    assert len(second.headers["webhook-signature"].split()) == 2
    assert verified([second], new) and verified([second], old)
    unknown = await http.post(
        "/admin/clients/nobody@example.com/callback-secret/rotate", headers=ADMIN
    )
    assert unknown.status_code == 404


async def test_no_webhook_endpoint_gets_anything_extra_and_callback_endpoints_are_not_listed(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    endpoint_id, _ = await add_endpoint(services, url="https://hooks.example.com/all")
    await send(http, api_client, "one")
    await drain(registered)
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    hook = at(receiver, "https://hooks.example.com/all")
    assert [r.headers["webhook-id"] for r in hook] == [events[-1]["id"]]
    assert len(at(receiver)) == 1
    listed = (await http.get("/admin/webhooks", headers=ADMIN)).json()["data"]
    assert [e["id"] for e in listed] == [endpoint_id]


async def test_a_fan_out_whose_transaction_does_not_commit_loses_nothing_and_repeats_nothing(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    await send(http, api_client, "crash")
    await drain(registered)

    def crash(conn: Connection) -> None:
        assert fan_out_callbacks(conn, services.clock(), services.secret_box) == (1, False)
        raise RuntimeError("the process dies before the commit")

    with pytest.raises(RuntimeError):
        await services.database.run(crash)
    assert await deliveries(services) == []
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
        assert await worker.step() == 0
    assert len(at(receiver)) == 1
    again = partial(fan_out_callbacks, now=services.clock(), box=services.secret_box)
    assert await services.database.run(again) == (0, False)


async def test_every_message_of_a_v1_batch_takes_the_x_callback_url_header(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: Any
) -> None:
    await say(http, "34612345679", "Hi")
    headers = {**api_client, "X-Callback-URL": CALLBACK}
    body = {"numbers": [NUMBER, "34612345679"], "message": "to both"}
    response = await http.post("/v1/telegram/batch/message/1", json=body, headers=headers)
    assert response.status_code == 200, response.text
    for message_id in response.json()["ids"]:
        shown = await http.get(f"/api/v1/messages/{message_id}", headers=api_client)
        assert shown.json()["callback_url"] == CALLBACK


async def test_a_callback_endpoint_cannot_be_changed_through_the_webhooks_api(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: Any,
    services: Services,
    receiver: Receiver,
) -> None:
    await send(http, api_client, "one")
    await drain(registered)
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    async with services.database.read() as session:
        (endpoint_id,) = (
            await session.scalars(
                select(WebhookEndpoint.id).where(col(WebhookEndpoint.source) == "callback")
            )
        ).all()
    path = f"/admin/webhooks/{endpoint_id}"
    refusals = [
        await http.patch(path, json={"url": "https://other.example.com/"}, headers=ADMIN),
        await http.delete(path, headers=ADMIN),
        await http.post(f"{path}/rotate-secret", headers=ADMIN),
    ]
    for refused in refusals:
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "conflict")
        assert "callback-secret/rotate" in refused.json()["error"]["message"]
    shown = (await http.get(path, headers=ADMIN)).json()
    assert shown.get("enabled") is True, shown
    listed = (await http.get(f"{path}/deliveries", headers=ADMIN)).json()["data"]
    assert [d["status"] for d in listed] == ["delivered"]
    # Switching it off and on is the admin's (a receiver that answered 410 is back).
    off = await http.patch(path, json={"enabled": False}, headers=ADMIN)
    assert (off.status_code, off.json()["enabled"]) == (200, False)


async def test_metrics_count_every_callback_endpoint_under_one_label(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: Any, services: Services
) -> None:
    await send(http, api_client, "one", callback="https://cb.example.com/a")
    await send(http, api_client, "two", callback="https://cb.example.com/b")
    await drain(registered)
    fan_out = partial(fan_out_callbacks, now=services.clock(), box=services.secret_box)
    assert await services.database.run(fan_out) == (2, False)  # sent: one per endpoint
    text = (await http.get("/metrics")).text
    assert 'tgw_webhook_deliveries{endpoint="callbacks",status="pending"} 2.0' in text
    assert "cb_" not in text
