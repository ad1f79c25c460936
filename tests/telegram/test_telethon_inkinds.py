"""The kinds a person sends that are not text, photo, file or voice, through real Telethon from
the fake Telegram: a video (and a round video message), a sticker, a location, a live location
and a venue each become a `message.received` with their own `media.kind` or `location`."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from app.models import Event, InboundMessage
from app.services import Services
from tests.conftest import Clock
from tests.media_samples import mp4, picture
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.fake_mtproto.inkinds_people import (
    fake_live_point,
    fake_point,
    fake_sticker,
    fake_venue,
    fake_video,
    person_sends_media,
)
from tests.telegram.test_telethon_backend import _rows_including, ready_gateway
from tests.waiting import eventually


async def received(services: Services, telegram_id: int) -> dict[str, Any]:
    """The `data` of the message.received of the person's message `telegram_id`."""
    await eventually(lambda: _rows_including(services, telegram_id), f"message {telegram_id}")
    async with services.database.read() as session:
        payloads = await session.scalars(
            select(Event.payload).where(Event.type == "message.received").order_by(Event.seq)
        )
        found = [orjson.loads(p)["data"] for p in payloads]
    [data] = [d for d in found if d["telegram_message_id"] == telegram_id]
    return data


async def stored(services: Services, telegram_id: int) -> InboundMessage:
    rows = await _rows_including(services, telegram_id)
    [row] = [r for r in rows if r.telegram_message_id == telegram_id]
    return row


async def test_a_video_a_person_sends_is_received_as_a_video(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        clip = mp4()
        sent = person_sends_media(fake, person, account, fake_video(fake, clip))
        data = await received(services, sent)
        assert data["media"]["kind"] == "video"
        assert (data["media"]["filename"], data["media"]["size"]) == ("clip.mp4", len(clip))
        assert data["location"] is None


async def test_a_round_video_message_is_received_as_a_video(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        media = fake_video(fake, mp4(), round_message=True)
        sent = person_sends_media(fake, person, account, media)
        assert (await received(services, sent))["media"]["kind"] == "video"


async def test_a_sticker_a_person_sends_is_received_as_a_sticker(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        webp = picture(64, 64, "WEBP")
        sent = person_sends_media(fake, person, account, fake_sticker(fake, webp))
        data = await received(services, sent)
        assert (data["media"]["kind"], data["media"]["mime_type"]) == ("sticker", "image/webp")
        assert data["media"]["size"] == len(webp)
        assert (await stored(services, sent)).media_kind == "sticker"


async def test_a_location_a_person_sends_is_received_with_its_point(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        sent = person_sends_media(fake, person, account, fake_point(40.4168, -3.7038))
        data = await received(services, sent)
        assert data["location"] == {
            "latitude": 40.4168,
            "longitude": -3.7038,
            "title": None,
            "address": None,
        }
        assert (data["text"], data["media"]) == (None, None)
        row = await stored(services, sent)
        assert (row.media_kind, row.handling) == ("location", "forwarded")
        assert row.location is not None and orjson.loads(row.location) == data["location"]


async def test_a_live_location_is_received_with_its_current_point(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        sent = person_sends_media(fake, person, account, fake_live_point(51.5007, -0.1246))
        location = (await received(services, sent))["location"]
        assert (location["latitude"], location["longitude"]) == (51.5007, -0.1246)


async def test_a_venue_a_person_sends_is_received_with_its_title_and_address(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        venue = fake_venue(40.4153, -3.6845, "Retiro", "Plaza de la Independencia 7")
        sent = person_sends_media(fake, person, account, venue)
        assert (await received(services, sent))["location"] == {
            "latitude": 40.4153,
            "longitude": -3.6845,
            "title": "Retiro",
            "address": "Plaza de la Independencia 7",
        }
