"""Backfilling a conversation with the Telethon backend: real Telethon asks the fake Telegram
for the chat's history (messages.getHistory, answered with messages.messagesSlice) page by
page; what the gateway never stored shows in the conversation, and nothing twice."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from telethon.tl import types

from app.cluster.ownership import make_worker
from app.models import Event, HistoryMessage, InboundMessage
from app.services import Services
from tests.conftest import Clock, drain
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.fake_mtproto.history_methods import unseen_message
from tests.telegram.fake_mtproto.world import BoxEvent
from tests.telegram.test_telethon_backend import PERSON_PHONE, ready_gateway
from tests.waiting import eventually

BACKFILL = f"/api/v1/conversations/{PERSON_PHONE}/backfill"


class Pauses:
    """The backfill's pauses between pages, recorded (no real sleeping); `then` runs in one."""

    def __init__(self, then: Any = None) -> None:
        self.taken: list[float] = []
        self.then = then

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        if self.then is not None:
            self.then()


async def backfill(http: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> Any:
    response = await http.post(BACKFILL + query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def stored_count(services: Services) -> int:
    async with services.database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(HistoryMessage)) or 0)


async def event_count(services: Services) -> int:
    async with services.database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def test_a_backfill_pages_through_telegrams_history(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        ids = [unseen_message(fake, account, person, f"phone {i}", out=True) for i in range(150)]
        services.backfills.sleep = pauses = Pauses()
        done = await backfill(http, headers, "?limit=500")
        # 150 from the phone, plus "Hi" and the registration reply the gateway has already.
        assert (done["scanned"], done["stored"], done["known"]) == (152, 150, 2)
        assert done["pages"] == 2 and done["next_before_id"] is None
        offsets = [r.offset_id for r in fake.requests_of("GetHistoryRequest")]
        assert offsets == [0, ids[50]]
        assert pauses.taken == [services.backfills.page_pause_s]
        chat = await http.get(
            f"/api/v1/conversations/{PERSON_PHONE}/messages?limit=2", headers=headers
        )
        newest = chat.json()["data"][0]
        assert (newest["text"], newest["origin"], newest["backfilled"]) == (
            "phone 149",
            "account",
            True,
        )
        assert newest["telegram_message_id"] == ids[-1]


async def test_messages_the_gateway_sent_or_received_are_not_stored_again(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        sent = await http.post(
            "/api/v1/messages", json={"to": PERSON_PHONE, "text": "via the API"}, headers=headers
        )
        assert sent.status_code == 202, sent.text
        await drain(make_worker(services, 1))
        unseen_message(fake, account, person, "before the gateway ran", out=False)
        done = await backfill(http, headers)
        assert (done["stored"], done["known"]) == (1, 3)
        again = await backfill(http, headers)
        assert (again["stored"], again["known"]) == (0, 4)
        assert await stored_count(services) == 1


async def test_a_backfill_makes_no_event_nor_webhook(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        unseen_message(fake, account, person, "old news", out=False)
        before = await event_count(services)
        assert (await backfill(http, headers))["stored"] == 1
        assert await event_count(services) == before


async def test_a_flood_wait_on_a_later_page_stops_and_keeps_what_was_found(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        ids = [unseen_message(fake, account, person, f"phone {i}", out=True) for i in range(150)]
        services.backfills.sleep = Pauses(
            then=lambda: fake.fail_next("GetHistoryRequest", "FLOOD_WAIT_3", 420)
        )
        done = await backfill(http, headers, "?limit=500")
        assert (done["stored"], done["pages"], done["flood_wait_s"]) == (100, 1, 3)
        assert done["next_before_id"] == ids[50]
        asked = len(fake.requests_of("GetHistoryRequest"))
        refused = await http.post(BACKFILL, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "flood_wait"
        assert len(fake.requests_of("GetHistoryRequest")) == asked  # Telegram not asked again
        clock.advance(4)
        services.backfills.sleep = Pauses()
        rest = await backfill(http, headers, f"?limit=500&before_id={done['next_before_id']}")
        assert (rest["stored"], rest["next_before_id"]) == (50, None)


async def test_a_flood_wait_on_the_first_page_is_429_with_retry_after(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (_s, http, _a, _p, headers):
        fake.fail_next("GetHistoryRequest", "FLOOD_WAIT_3", 420)
        refused = await http.post(BACKFILL, headers=headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "3"


async def test_a_file_from_before_is_described_not_downloaded(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (_s, http, account, person, headers):
        media = fake.world.incoming_media(
            photo=None,
            document=(b"%PDF-1.4 invoice", "invoice.pdf", "application/pdf"),
            voice=None,
            audio=None,
            contact=None,
        )
        unseen_message(fake, account, person, "the invoice", out=False, media=media)
        assert (await backfill(http, headers))["stored"] == 1
        assert not fake.requests_of("GetFileRequest")
        chat = await http.get(f"/api/v1/conversations/{PERSON_PHONE}/messages", headers=headers)
        item = chat.json()["data"][0]
        assert (item["kind"], item["filename"], item["mime_type"]) == (
            "document",
            "invoice.pdf",
            "application/pdf",
        )
        assert (item["caption"], item["text"], item["size"]) == ("the invoice", None, 16)


async def test_messages_of_the_same_second_page_in_telegrams_order_without_gaps(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        when = clock()
        ids = [
            unseen_message(fake, account, person, f"phone {i}", out=True, date=when)
            for i in range(25)
        ]
        services.backfills.sleep = Pauses()
        await backfill(http, headers)
        seen: list[int] = []
        query = "?limit=10"
        while True:
            page = await http.get(
                f"/api/v1/conversations/{PERSON_PHONE}/messages{query}", headers=headers
            )
            body = page.json()
            seen += [m["telegram_message_id"] for m in body["data"] if m["backfilled"]]
            if body["next"] is None:
                break
            query = f"?limit=10&before={body['next']}"
        assert seen == ids[::-1]


async def test_a_backfilled_message_the_gateway_receives_later_shows_once(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        late = unseen_message(fake, account, person, "delayed", out=False)
        assert (await backfill(http, headers))["stored"] == 1
        # Now its update reaches the gateway (a catch-up after the backfill ran).
        box = fake.world.box(account)
        pts = box.next_pts()
        box.events.append(BoxEvent(pts=pts, kind="message", message_id=late))
        update = types.UpdateNewMessage(box.messages[late], pts, 1)
        fake.push_to_account(account, fake.world.updates_for(box, [update]))

        async def received() -> bool:
            async with services.database.read() as session:
                found = select(InboundMessage).where(InboundMessage.telegram_message_id == late)
                return (await session.scalar(found)) is not None

        await eventually(received, "the late message stored by the inbound pipeline")
        chat = await http.get(f"/api/v1/conversations/{PERSON_PHONE}/messages", headers=headers)
        same = [m for m in chat.json()["data"] if m["telegram_message_id"] == late]
        assert [(m["text"], m["backfilled"]) for m in same] == [("delayed", False)]
