"""message.received as webhooks see it: WhatsMate fields, sender, reply_to, and media
behind a signed, expiring link that refuses tampering and expiry."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlsplit

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
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def clock() -> Clock:
    return now_clock()


async def received(
    http: httpx.AsyncClient, services: Services, body: dict[str, Any]
) -> tuple[dict[str, Any], httpx.Request, str]:
    """Register PERSON, add an endpoint, let PERSON write `body`; the signed webhook body."""
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi", username="ana_p", last_name="Pérez")
    _, secret = await add_endpoint(services, events=["message.received"])
    message = {"from": {"number": PERSON, "first_name": "Ana"}, **body}
    response = await http.post("/admin/sandbox/1/inbound", json=message, headers=ADMIN)
    assert response.status_code == 200 and response.json()["handled"], response.text
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [request] = receiver.requests
    return Webhook(secret).verify(request.content, dict(request.headers)), request, secret


async def test_a_received_text_carries_the_whatsmate_fields_and_the_sender(
    http: httpx.AsyncClient, services: Services
) -> None:
    body, _, _ = await received(http, services, {"text": "Is my order shipped?"})
    assert body["type"] == "message.received"
    assert (body["number"], body["message"], body["instance_id"]) == (
        PERSON,
        "Is my order shipped?",
        1,
    )
    assert body["gateway_number"]
    data = body["data"]
    assert data["text"] == "Is my order shipped?"
    assert data["sender"]["number"] == PERSON
    assert data["sender"]["first_name"] == "Ana"
    assert isinstance(data["sender"]["user_id"], int)
    assert data["reply_to"] is None and data["media"] is None


async def test_a_reply_names_the_message_it_answers(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str], worker: Any
) -> None:
    services.resolve_host = public_dns
    await say(http, PERSON, "Hi")
    sent = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": PERSON, "message": "Your parcel left"},
        headers=api_client,
    )
    ours = sent.json()["id"]
    await drain(worker)
    telegram_id = (await http.get(f"/api/v1/messages/{ours}", headers=api_client)).json()[
        "telegram_message_id"
    ]
    body, _, _ = await received(http, services, {"text": "Thanks!", "reply_to": telegram_id})
    assert body["data"]["reply_to"] == {"telegram_message_id": telegram_id, "message_id": ours}


async def test_received_media_comes_as_a_signed_link_not_inline(
    http: httpx.AsyncClient, services: Services
) -> None:
    media = {"kind": "image", "filename": "dot.png", "base64": base64.b64encode(PNG).decode()}
    body, request, _ = await received(http, services, {"media": media, "text": "look"})
    info = body["data"]["media"]
    assert info["kind"] == "image"
    assert info["filename"] == "dot.png"
    assert info["size"] == len(PNG)
    assert info["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert base64.b64encode(PNG).decode() not in request.content.decode()
    url = urlsplit(info["url"])
    assert f"{url.scheme}://{url.netloc}" == services.settings.public_url
    fetched = await http.get(f"{url.path}?{url.query}")
    assert fetched.status_code == 200
    assert fetched.content == PNG


async def test_a_tampered_or_incomplete_media_link_is_refused(
    http: httpx.AsyncClient, services: Services
) -> None:
    media = {"kind": "document", "filename": "a.txt", "base64": base64.b64encode(b"hi").decode()}
    body, _, _ = await received(http, services, {"media": media})
    url = urlsplit(body["data"]["media"]["url"])
    query = dict(part.split("=", 1) for part in url.query.split("&"))
    later = int(query["exp"]) + 3600
    # Another last character (replacing it by a fixed one would change nothing 1 time in 64).
    tampered = query["sig"][:-1] + ("B" if query["sig"][-1] == "A" else "A")
    for path in [
        f"{url.path}?exp={later}&sig={query['sig']}",  # a longer life, same signature
        f"{url.path}?exp={query['exp']}&sig={tampered}",
        f"{url.path[:-3]}abc?exp={query['exp']}&sig={query['sig']}",  # another medium
        f"{url.path}?exp={query['exp']}",
        f"{url.path}?exp=soon&sig={query['sig']}",
    ]:
        response = await http.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["message"]


async def test_an_expired_media_link_is_refused(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    media = {"kind": "document", "filename": "a.txt", "base64": base64.b64encode(b"hi").decode()}
    body, _, _ = await received(http, services, {"media": media})
    url = urlsplit(body["data"]["media"]["url"])
    clock.advance(24 * 3600 + 1)
    response = await http.get(f"{url.path}?{url.query}")
    assert response.status_code == 403
    assert "expired" in response.json()["error"]["message"]


async def test_backfill_through_the_events_api_gets_a_fresh_media_link(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str], clock: Clock
) -> None:
    media = {"kind": "audio", "filename": "a.mp3", "base64": base64.b64encode(b"ID3").decode()}
    await received(http, services, {"media": media})
    clock.advance(3 * 86400)  # the webhook's link has expired by now
    events = (await http.get("/api/v1/events?after=0", headers=api_client)).json()["data"]
    [event] = [e for e in events if e["type"] == "message.received"]
    url = urlsplit(event["data"]["media"]["url"])
    response = await http.get(f"{url.path}?{url.query}")
    assert response.status_code == 200 and response.content == b"ID3"
