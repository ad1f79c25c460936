"""A video, a sticker, a location and a venue a sandbox person sends (over the admin API)
become `message.received` events with their own `media.kind` or `location`; a location from
someone not registered is answered as any other message (the hint), never as a greeting."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from app.models import InboundMessage
from app.services import Services
from tests.conftest import ADMIN, drain, say
from tests.media_samples import mp4, picture

PERSON = "34612345678"
RETIRO = {
    "latitude": 40.4153,
    "longitude": -3.6845,
    "title": "Retiro",
    "address": "Plaza de la Independencia 7",
}


async def person_sends(http: httpx.AsyncClient, **body: Any) -> int:
    message = {"from": {"number": PERSON, "first_name": "Ana"}, **body}
    response = await http.post("/admin/sandbox/1/inbound", json=message, headers=ADMIN)
    assert response.status_code == 200 and response.json()["handled"], response.text
    message_id: int = response.json()["message_id"]
    return message_id


async def received(
    http: httpx.AsyncClient, headers: dict[str, str], telegram_id: int
) -> dict[str, Any]:
    """The message.received event (as the event log shows it) of message `telegram_id`."""
    events = (await http.get("/api/v1/events", headers=headers)).json()["data"]
    [event] = [
        e
        for e in events
        if e["type"] == "message.received" and e["data"]["telegram_message_id"] == telegram_id
    ]
    found: dict[str, Any] = event
    return found


async def test_a_video_is_received_as_a_video(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, PERSON, "Hi")
    clip = mp4()
    media = {"kind": "video", "base64": base64.b64encode(clip).decode(), "filename": "clip.mp4"}
    sent = await person_sends(http, text="the delivery", media={**media, "mime_type": "video/mp4"})
    event = await received(http, api_client, sent)
    assert event["message"] == "the delivery"
    data = event["data"]
    assert (data["media"]["kind"], data["media"]["filename"]) == ("video", "clip.mp4")
    assert data["media"]["sha256"] == hashlib.sha256(clip).hexdigest()
    assert (data["text"], data["location"]) == ("the delivery", None)


async def test_a_sticker_is_received_as_a_sticker(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, PERSON, "Hi")
    webp = picture(64, 64, "WEBP")
    media = {"kind": "sticker", "base64": base64.b64encode(webp).decode()}
    sent = await person_sends(http, media={**media, "mime_type": "image/webp"})
    data = (await received(http, api_client, sent))["data"]
    assert (data["media"]["kind"], data["media"]["size"]) == ("sticker", len(webp))


async def test_a_location_is_received_with_its_point_and_no_text(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await say(http, PERSON, "Hi")
    sent = await person_sends(http, location={"latitude": -33.8568, "longitude": 151.2153})
    event = await received(http, api_client, sent)
    assert event["data"]["location"] == {
        "latitude": -33.8568,
        "longitude": 151.2153,
        "title": None,
        "address": None,
    }
    assert (event["data"]["text"], event["data"]["media"], event["message"]) == (None, None, "")
    async with services.database.read() as session:
        rows = list(await session.scalars(select(InboundMessage).where(by_telegram_id(sent))))
    assert [(r.media_kind, r.handling) for r in rows] == [("location", "forwarded")]


async def test_a_venue_is_received_with_its_title_and_address(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, PERSON, "Hi")
    sent = await person_sends(http, location=RETIRO)
    assert (await received(http, api_client, sent))["data"]["location"] == RETIRO


async def test_a_location_from_someone_not_registered_gets_the_hint(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    # A venue named like a greeting: a location never greets, so nobody is registered.
    await person_sends(http, location={**RETIRO, "title": "Hi"})
    await drain(worker)
    replies = (await http.get(f"/admin/sandbox/1/sent?number={PERSON}", headers=ADMIN)).json()
    assert [r["text"] for r in replies["data"]] == [
        "This gateway only answers registered users. Say Hi to register."
    ]
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    types = {e["type"] for e in events}
    assert "message.received" not in types and "recipient.registered" not in types


async def test_a_location_off_the_map_is_refused(http: httpx.AsyncClient) -> None:
    body = {"from": {"number": PERSON}, "location": {"latitude": 91, "longitude": 0}}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert "location.latitude" in response.json()["error"]["message"]


def by_telegram_id(telegram_id: int) -> Any:
    return col(InboundMessage.telegram_message_id) == telegram_id
