"""The body of every event type: WhatsMate's top-level `number` and `message` only on
message.received, the other party's number under `data` on every type, the same in webhook
bodies and in GET /api/v1/events; and the loop they used to cause, run through the sandbox with
a receiver that answers every POST the WhatsMate way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.services import Services
from tests.conftest import ADMIN, Clock, drain, say
from tests.inbound.webhooks.helpers import (
    Receiver,
    add_endpoint,
    delivery_worker,
    now_clock,
    public_dns,
)

PERSON = "34612345678"
OTHER = "34622345678"


@pytest.fixture
def clock() -> Clock:
    return now_clock()


async def send(http: httpx.AsyncClient, headers: dict[str, str], number: str, text: str) -> str:
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": number, "message": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    message_id: str = response.json()["id"]
    return message_id


def the_number_in_data(event: dict[str, Any]) -> str | None:
    """Where each type keeps the other party's number."""
    data = event["data"]
    if event["type"] == "message.received":
        found: str | None = data["sender"]["number"]
    elif event["type"].startswith("message."):
        found = data["to"]
    elif event["type"].startswith("recipient."):
        found = data["number"]
    else:
        found = None
    return found


async def every_type(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str], worker: Any
) -> None:
    """Make one event of each type through the real pipeline (the sandbox)."""
    await say(http, PERSON, "Hi")  # recipient.registered
    await say(http, OTHER, "Hi")
    sent = await send(http, api_client, PERSON, "Your parcel left")
    await drain(worker)  # message.sent
    telegram_id = (await http.get(f"/api/v1/messages/{sent}", headers=api_client)).json()[
        "telegram_message_id"
    ]
    read = {"number": PERSON, "max_message_id": telegram_id}
    assert (await http.post("/admin/sandbox/1/read", json=read, headers=ADMIN)).status_code == 200
    fault = {"error": "blocked", "number": OTHER}
    assert (
        await http.post("/admin/sandbox/1/faults", json=fault, headers=ADMIN)
    ).status_code == 201
    await send(http, api_client, OTHER, "You will not get this")
    await drain(worker)  # message.failed
    await say(http, PERSON, "Where is it now?")  # message.received
    await say(http, OTHER, "STOP")  # recipient.unregistered
    login = {"device": "Pixel 8", "location": "Lisbon"}
    answer = await http.post("/admin/sandbox/1/new-login", json=login, headers=ADMIN)
    assert answer.status_code == 200, answer.text  # account.login_alert
    logout = await http.post("/admin/instances/1/logout", headers=ADMIN)
    assert logout.status_code == 200, logout.text  # instance.status


async def test_number_and_message_are_top_level_on_received_messages_only(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str], worker: Any
) -> None:
    services.resolve_host = public_dns
    _, secret = await add_endpoint(services)  # every type
    await every_type(http, services, api_client, worker)
    receiver = Receiver()
    async with delivery_worker(services, receiver) as hooks:
        for _ in range(10):
            await hooks.step()
    bodies = [Webhook(secret).verify(r.content, dict(r.headers)) for r in receiver.requests]
    listed = (await http.get("/api/v1/events?after=0&limit=1000", headers=api_client)).json()
    assert {b["type"] for b in bodies} == {
        "message.received",
        "message.sent",
        "message.read",
        "message.failed",
        "recipient.registered",
        "recipient.unregistered",
        "instance.status",
        "account.login_alert",
    }
    # The same renderer: a webhook body is what the events API lists.
    seqs = {b["seq"] for b in bodies}
    assert sorted(bodies, key=lambda b: b["seq"]) == [e for e in listed["data"] if e["seq"] in seqs]
    for body in bodies:
        assert body["instance_id"] == 1 and "gateway_number" in body, body
        if body["type"] == "message.received":
            assert (body["number"], body["message"]) == (PERSON, "Where is it now?")
        else:
            assert "number" not in body and "message" not in body, body
        if body["type"].startswith(("message.", "recipient.")):
            assert the_number_in_data(body) in (PERSON, OTHER), body


async def test_the_test_event_has_no_number_or_message(
    http: httpx.AsyncClient, services: Services
) -> None:
    services.resolve_host = public_dns
    endpoint_id, secret = await add_endpoint(services)
    queued = await http.post(f"/admin/webhooks/{endpoint_id}/test", headers=ADMIN)
    assert queued.status_code == 202, queued.text
    receiver = Receiver()
    async with delivery_worker(services, receiver) as hooks:
        assert await hooks.step() == 1
    [request] = receiver.requests
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert body["type"] == "webhook.test" and body == queued.json()["event"]
    assert "number" not in body and "message" not in body


class AnsweringReceiver:
    """A receiver written the WhatsMate way: it answers every POST by sending a message to the
    top-level `number`, when there is one (through the app in-process)."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers
        self.posts: list[dict[str, Any]] = []
        self.replies = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        import orjson

        body = orjson.loads(await request.aread())
        self.posts.append(body)
        if body.get("number"):
            await send(self.http, self.headers, body["number"], f"Got: {body.get('message')}")
            self.replies += 1
        return httpx.Response(200, text="ok")


async def test_a_receiver_that_answers_every_post_answers_one_message_once(
    http: httpx.AsyncClient,
    services: Services,
    api_client: dict[str, str],
    worker: Any,
    clock: Clock,
) -> None:
    services.resolve_host = public_dns
    await add_endpoint(services)  # the default subscription: every event
    receiver = AnsweringReceiver(http, api_client)
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        from app.main import make_delivery_worker

        hooks = make_delivery_worker(services, client)

        async def run(rounds: int) -> None:
            for _ in range(rounds):
                await hooks.step()
                await worker.step()
                clock.advance(0.5)

        await say(http, PERSON, "Hi")
        await run(10)
        await say(http, PERSON, "hello")
        await run(10)  # the queue drained...
        await run(20)  # ...and ten more seconds of deliveries
    sent = [r for r in await services.telegram.sandboxes[1].sent_log(PERSON) if r["text"]]
    replies = [r["text"] for r in sent if r["text"].startswith("Got: ")]
    assert replies == ["Got: hello"], [r["text"] for r in sent]
    assert receiver.replies == 1
    # It was offered every type: the registration and our own reply came, without a number.
    types = [p["type"] for p in receiver.posts]
    assert "recipient.registered" in types and "message.sent" in types, types
