"""The registration dialogue, through the sandbox backend and the real pipeline."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.services import Services
from tests.conftest import ADMIN, drain, say

NUMBER = "34612345678"


async def sent_to(http: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    response = await http.get(f"/admin/sandbox/1/sent?number={number}", headers=ADMIN)
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


async def recipients(http: httpx.AsyncClient, headers: dict[str, str], status: str) -> list[Any]:
    response = await http.get(f"/api/v1/recipients?status={status}", headers=headers)
    data: list[Any] = response.json()["data"]
    return data


async def test_visible_phone_greeting_registers_at_once(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "hi!")
    await drain(worker)
    registered = await recipients(http, api_client, "registered")
    assert [r["number"] for r in registered] == [NUMBER]
    assert (await sent_to(http, NUMBER))[0]["text"].startswith("You are registered")


async def test_hidden_phone_greeting_stays_pending_and_asks_for_the_contact_card(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Привіт", phone_visible=False)
    await drain(worker)
    assert await recipients(http, api_client, "registered") == []
    pending = await recipients(http, api_client, "pending")
    assert len(pending) == 1 and pending[0]["number"] is None
    # The sandbox records the reply under the person's number even though the gateway can't see it.
    reply = (await sent_to(http, NUMBER))[0]["text"]
    assert "контакт" in reply.lower()  # Ukrainian: asks to share the contact card
    send = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": NUMBER, "message": "x"},
        headers=api_client,
    )
    assert send.status_code == 472


async def test_own_contact_card_completes_a_pending_registration(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Hola", phone_visible=False)
    body = {
        "from": {"number": NUMBER, "phone_visible": False},
        "contact": {"number": "+" + NUMBER},
    }
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    assert response.status_code == 200
    await drain(worker)
    registered = await recipients(http, api_client, "registered")
    assert [r["number"] for r in registered] == [NUMBER]
    assert registered[0]["language"] == "es"
    texts = [row["text"] for row in await sent_to(http, NUMBER)]
    assert texts[-1].startswith("Te has registrado")


async def test_someone_elses_contact_card_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Hi", phone_visible=False)
    body = {
        "from": {"number": NUMBER, "phone_visible": False},
        "contact": {"number": "34699999999"},
    }
    await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    await drain(worker)
    assert await recipients(http, api_client, "registered") == []
    assert "not yours" in (await sent_to(http, NUMBER))[-1]["text"]


async def test_stop_word_unregisters_and_sends_get_472(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await say(http, NUMBER, "STOP")
    await drain(worker)
    assert await recipients(http, api_client, "registered") == []
    send = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": NUMBER, "message": "x"},
        headers=api_client,
    )
    assert send.status_code == 472
    assert "unsubscribed" in (await sent_to(http, NUMBER))[-1]["text"]
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    assert [e["type"] for e in events if e["type"].startswith("recipient.")] == [
        "recipient.registered",
        "recipient.unregistered",
    ]


async def test_unregistered_writer_gets_one_hint_a_day_and_nothing_is_forwarded(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Any
) -> None:
    await say(http, NUMBER, "what is this?")
    await say(http, NUMBER, "hello??")
    await drain(worker)
    assert len(await sent_to(http, NUMBER)) == 1
    clock.advance(24 * 3600)
    await say(http, NUMBER, "anyone?")
    await drain(worker)
    assert len(await sent_to(http, NUMBER)) == 2
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    assert not [e for e in events if e["type"] == "message.received"]


async def test_registered_persons_message_becomes_a_received_event(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await say(http, NUMBER, "I need help with my order")
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    received = [e for e in events if e["type"] == "message.received"]
    assert len(received) == 1
    assert received[0]["number"] == NUMBER
    assert received[0]["message"] == "I need help with my order"


async def test_bots_are_never_answered(http: httpx.AsyncClient, worker: Any) -> None:
    person = {"number": NUMBER, "is_bot": True}
    await http.post("/admin/sandbox/1/inbound", json={"from": person, "text": "Hi"}, headers=ADMIN)
    await drain(worker)
    assert await sent_to(http, NUMBER) == []


async def test_service_account_777000_is_silent(services: Services, worker: Any) -> None:
    from datetime import UTC, datetime

    from app.telegram.port import IncomingMessage, Sender
    from inbound.processor import InboundProcessor

    processor = InboundProcessor(
        1,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
    )
    await processor(
        IncomingMessage(
            message_id=1,
            date=datetime.now(UTC),
            sender=Sender(user_id=777000, access_hash=1, phone="42777"),
            text="Hi",
        )
    )
    await drain(worker)
    sandbox = services.telegram.sandboxes[1]
    assert await sandbox.sent_log() == []


class TestFullGateway:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"limits": {"max_recipients": 1}}

    async def test_full_gateway_replies_politely_and_registers_no_one(
        self, http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
    ) -> None:
        await say(http, NUMBER, "Hi")
        await say(http, "34611111111", "Hallo")
        await drain(worker)
        registered = await recipients(http, api_client, "registered")
        assert [r["number"] for r in registered] == [NUMBER]
        reply = (await sent_to(http, "34611111111"))[0]["text"]
        assert "Leider" in reply  # German: sorry, no new registrations


async def test_replayed_update_is_handled_once(services: Services, worker: Any) -> None:
    from datetime import UTC, datetime

    from app.telegram.port import IncomingMessage, Sender
    from inbound.processor import InboundProcessor

    processor = InboundProcessor(
        1,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
    )
    update = IncomingMessage(
        message_id=41,
        date=datetime.now(UTC),
        sender=Sender(user_id=5005, access_hash=9, phone="+34 612 345 678"),
        text="Ciao",
    )
    from app.instances import sync_instances

    async with services.database.read() as session, session.begin():
        await sync_instances(session, services.settings, services.clock())
    await processor(update)
    await processor(update)  # catch-up after a restart replays it
    async with services.database.read() as session:
        from sqlalchemy import func, select

        from app.models import Message

        replies = await session.scalar(select(func.count()).select_from(Message))
    assert replies == 1


async def test_a_photo_from_a_registered_person_is_stored_once_with_its_digest(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    import base64
    import hashlib

    from sqlalchemy import func, select

    from app.models import InboundMessage, MediaBlob

    photo = b"\x89PNG\r\n\x1a\n" + b"pixels" * 50
    await say(http, NUMBER, "Hi")
    body = {
        "from": {"number": NUMBER},
        "text": "my receipt",
        "media": {"kind": "image", "filename": "r.png", "base64": base64.b64encode(photo).decode()},
    }
    assert (
        await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    ).status_code == 200
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    received = [e for e in events if e["type"] == "message.received"]
    assert len(received) == 1
    media = received[0]["data"]["media"]
    assert media["sha256"] == hashlib.sha256(photo).hexdigest()
    assert (media["kind"], media["filename"], media["size"]) == ("image", "r.png", len(photo))
    assert received[0]["message"] == "my receipt"
    async with services.database.read() as session:
        stored = await session.get(MediaBlob, media["id"])
        assert stored is not None and stored.data == photo
        count = await session.scalar(select(func.count()).select_from(InboundMessage))
    assert count == 2  # the greeting and the photo


async def test_a_reply_to_one_of_our_messages_names_that_message(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    sent = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": NUMBER, "message": "Your order shipped"},
        headers=api_client,
    )
    await drain(worker)
    ours = (await http.get(f"/api/v1/messages/{sent.json()['id']}", headers=api_client)).json()
    body = {"from": {"number": NUMBER}, "text": "thanks!", "reply_to": ours["telegram_message_id"]}
    await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    received = [e for e in events if e["type"] == "message.received"][-1]
    assert received["data"]["reply_to"] == {
        "telegram_message_id": ours["telegram_message_id"],
        "message_id": ours["id"],
    }
