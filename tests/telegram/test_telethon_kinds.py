"""The native kinds and options through real Telethon to the fake Telegram: what request the
gateway made (venue or point, contact card, video and sticker attributes, silent, no_webpage,
reply_to), the upload action shown during a large upload, and mark_read_on_reply's read mark
before the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select
from telethon.tl import types

from app.cluster.ownership import make_worker, start_instances
from app.main import create_app
from app.models import InboundMessage
from app.services import Services, build_services
from app.telegram.port import UserPeer
from tests.conftest import ADMIN_TOKEN, Clock, drain, make_settings
from tests.media_samples import b64, large_mp4, mp4, picture
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.fake_mtproto.world import SentRecord
from tests.telegram.test_telethon_backend import (
    GATEWAY_PHONE,
    PERSON_PHONE,
    SECRET_KEY,
    api_headers,
    config_for,
    greet,
    log_in,
    message_row,
)
from tests.waiting import eventually


def services_for(schema: str, clock: Clock, fake: FakeTelegram, **instance: Any) -> Services:
    settings = make_settings(schema, instances=[{"number": 1, "backend": "telethon", **instance}])
    return build_services(
        settings,
        ADMIN_TOKEN,
        clock=clock,
        run_workers=False,
        secret_key=SECRET_KEY,
        telethon=config_for(fake),
    )


@asynccontextmanager
async def ready(
    schema: str, clock: Clock, fake: FakeTelegram, **instance: Any
) -> AsyncIterator[tuple[Services, httpx.AsyncClient, Any, Any, dict[str, str]]]:
    """Logged in, the person registered and the registration reply sent."""
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    services = services_for(schema, clock, fake, **instance)
    try:
        await log_in(services, fake)
    finally:
        await services.close()
    services = services_for(schema, clock, fake, **instance)
    await start_instances(services, workers=False)
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as http:
            await greet(services, fake, account, person)
            await drain(make_worker(services, 1))
            yield services, http, account, person, await api_headers(http)
    finally:
        for backend in services.telegram.backends.values():
            await backend.stop()
        await services.close()


async def sent(
    services: Services,
    http: httpx.AsyncClient,
    headers: dict[str, str],
    fake: FakeTelegram,
    person: Any,
    **body: Any,
) -> SentRecord:
    """POST /api/v1/messages, drain the queue: what the person got."""
    response = await http.post(
        "/api/v1/messages", json={"to": PERSON_PHONE, **body}, headers=headers
    )
    assert response.status_code == 202, response.text
    await drain(make_worker(services, 1))
    row = await message_row(services, response.json()["id"])
    assert row.status == "sent", (row.error_code, row.error_detail)
    return next(r for r in fake.sent_to(person) if r.message_id == row.telegram_message_id)


def attribute(record: SentRecord, kind: type) -> Any:
    return next(a for a in record.attributes if isinstance(a, kind))


async def test_a_video_goes_as_a_streamable_document_with_its_duration_and_size(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    video = mp4(frames=15, width=48, height=32)
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        got = await sent(
            services,
            http,
            headers,
            fake,
            person,
            media={"kind": "video", "base64": b64(video), "caption": "watch"},
        )
    assert got.data == video and got.mime_type == "video/mp4" and got.text == "watch"
    attrs = attribute(got, types.DocumentAttributeVideo)
    assert (attrs.duration, attrs.w, attrs.h, attrs.supports_streaming) == (1.5, 48, 32, True)
    assert got.filename == "video.mp4"
    assert not got.request.media.force_file


async def test_a_sticker_goes_as_a_webp_document_with_the_sticker_attribute(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    sticker = picture(512, 300)
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        got = await sent(
            services,
            http,
            headers,
            fake,
            person,
            media={"kind": "sticker", "base64": b64(sticker)},
        )
    assert got.data == sticker and got.mime_type == "image/webp"
    mark = attribute(got, types.DocumentAttributeSticker)
    assert mark.alt == "" and isinstance(mark.stickerset, types.InputStickerSetEmpty)
    size = attribute(got, types.DocumentAttributeImageSize)
    assert (size.w, size.h) == (512, 300)


async def test_a_location_with_a_title_becomes_a_venue(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    place = {"latitude": 40.4168, "longitude": -3.7038, "title": "Shop", "address": "Sol 1"}
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        got = await sent(services, http, headers, fake, person, location=place)
    assert got.kind == "venue"
    media = got.request.media
    assert isinstance(media, types.InputMediaVenue)
    assert (media.title, media.address) == ("Shop", "Sol 1")
    assert (media.geo_point.lat, media.geo_point.long) == (40.4168, -3.7038)


async def test_a_location_without_a_title_is_a_geo_point_and_can_answer_a_message(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        first = await http.post(
            "/api/v1/messages", json={"to": PERSON_PHONE, "text": "where?"}, headers=headers
        )
        await drain(make_worker(services, 1))
        question = await message_row(services, first.json()["id"])
        got = await sent(
            services,
            http,
            headers,
            fake,
            person,
            location={"latitude": -33.86, "longitude": 151.2},
            reply_to=first.json()["id"],
        )
    assert got.kind == "geo" and isinstance(got.request.media, types.InputMediaGeoPoint)
    assert got.reply_to == question.telegram_message_id is not None


async def test_a_contact_card_arrives_with_its_number_and_names(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    card = {"phone": "+34 699 999 999", "first_name": "Luis", "last_name": "Pérez"}
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        got = await sent(services, http, headers, fake, person, contact=card, silent=True)
    media = got.request.media
    assert got.kind == "contact" and isinstance(media, types.InputMediaContact)
    assert (media.phone_number, media.first_name, media.last_name) == (
        "34699999999",
        "Luis",
        "Pérez",
    )
    assert got.request.silent is True


async def test_silent_and_link_preview_reach_telegrams_request(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        quiet = await sent(
            services,
            http,
            headers,
            fake,
            person,
            text="https://example.com",
            silent=True,
            link_preview=False,
        )
        loud = await sent(services, http, headers, fake, person, text="https://example.com")
    assert (quiet.request.silent, quiet.request.no_webpage) == (True, True)
    assert (bool(loud.request.silent), bool(loud.request.no_webpage)) == (False, False)


async def test_a_large_upload_shows_the_upload_action_and_cancels_it_after(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        await sent(
            services, http, headers, fake, person, media={"kind": "video", "base64": b64(mp4())}
        )
        assert fake.requests_of("SetTypingRequest") == []  # a small file: nothing shown
        await sent(
            services,
            http,
            headers,
            fake,
            person,
            media={"kind": "video", "base64": b64(large_mp4())},
        )
    names = [type(r).__name__ for _, r in fake.requests]
    actions = [type(r.action).__name__ for r in fake.requests_of("SetTypingRequest")]
    assert actions[0] == "SendMessageUploadVideoAction"
    assert actions[-1] == "SendMessageCancelAction"
    first_action = names.index("SetTypingRequest")
    last_media = len(names) - 1 - names[::-1].index("SendMediaRequest")
    cancel = len(names) - 1 - names[::-1].index("SetTypingRequest")
    assert first_action < last_media < cancel
    assert "SaveFilePartRequest" in names[first_action:last_media]


async def test_show_action_sends_the_chat_action_and_none_cancels_it(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready(schema, clock, fake) as (services, _http, _a, person, _headers):
        backend = services.telegram.backends[1]
        peer = UserPeer(person.user_id, person.access_hash)
        await backend.show_action(peer, "typing")
        await backend.show_action(peer, None)
    shown = fake.requests_of("SetTypingRequest")
    assert [type(r.action).__name__ for r in shown] == [
        "SendMessageTypingAction",
        "SendMessageCancelAction",
    ]
    assert shown[0].peer.user_id == person.user_id


async def test_mark_read_on_reply_reads_the_persons_messages_before_the_answer(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready(schema, clock, fake, mark_read_on_reply=True) as (
        services,
        http,
        account,
        person,
        headers,
    ):
        greeting_read = fake.requests_of("ReadHistoryRequest")
        question = fake.person_sends(person, account, "a question")
        await _inbound_stored(services, question)
        await sent(services, http, headers, fake, person, text="the answer")
    names = [type(r).__name__ for _, r in fake.requests]
    reads = fake.requests_of("ReadHistoryRequest")
    assert len(greeting_read) == 1  # the registration reply read the greeting first
    assert reads[-1].max_id == question
    assert isinstance(reads[-1].peer, types.InputPeerUser)
    assert reads[-1].peer.user_id == person.user_id
    last_read = len(names) - 1 - names[::-1].index("ReadHistoryRequest")
    assert names[last_read + 1 :].count("SendMessageRequest") == 1
    assert fake.read_max_id(account, person) == question


async def test_without_mark_read_on_reply_nothing_is_marked_read(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready(schema, clock, fake) as (services, http, _a, person, headers):
        await sent(services, http, headers, fake, person, text="the answer")
    assert fake.requests_of("ReadHistoryRequest") == []


async def _inbound_stored(services: Services, telegram_id: int) -> None:
    async def stored() -> bool:
        async with services.database.read() as session:
            found = await session.scalar(
                select(InboundMessage.id).where(InboundMessage.telegram_message_id == telegram_id)
            )
        return found is not None

    await eventually(stored, f"inbound message {telegram_id} stored")
