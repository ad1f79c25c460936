"""Editing, deleting and reacting through the API with the Telethon backend: real Telethon, the
gateway's pipeline and the fake Telegram, which records what the person sees."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.cluster.ownership import make_worker
from app.models import Event
from app.services import Services
from tests.conftest import Clock, drain
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.fake_mtproto.actions_methods import actions_of
from tests.telegram.test_telethon_backend import PERSON_PHONE, ready_gateway
from tests.waiting import eventually


async def sent(services: Services, http: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    response = await http.post(
        "/api/v1/messages", json={"to": PERSON_PHONE, "text": "Meeting at 2 pm"}, headers=headers
    )
    assert response.status_code == 202, response.text
    await drain(make_worker(services, 1))
    message = (await http.get(f"/api/v1/messages/{response.json()['id']}", headers=headers)).json()
    assert message["status"] == "sent", message
    return message


async def actions(http: httpx.AsyncClient, headers: dict[str, str], message_id: str) -> Any:
    response = await http.get(f"/api/v1/messages/{message_id}/actions", headers=headers)
    return response.json()["data"]


async def event_types(services: Services) -> list[str]:
    async with services.database.read() as session:
        return list(await session.scalars(select(Event.type).order_by(Event.seq)))


async def test_an_edit_through_the_api_is_seen_by_the_person(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, headers):
        message = await sent(services, http, headers)
        response = await http.patch(
            f"/api/v1/messages/{message['id']}", json={"text": "Meeting at 3 pm"}, headers=headers
        )
        assert response.status_code == 202, response.text
        await drain(make_worker(services, 1))
        view = actions_of(fake).view(account, message["telegram_message_id"])
        assert view.edits == ["Meeting at 3 pm"]
        request = fake.requests_of("EditMessageRequest")[-1]
        assert (request.id, request.message) == (message["telegram_message_id"], "Meeting at 3 pm")
        assert [a["status"] for a in await actions(http, headers, message["id"])] == ["done"]
        assert "message.edited" in await event_types(services)


async def test_an_edit_to_the_same_words_counts_as_done(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, headers):
        message = await sent(services, http, headers)
        await http.patch(
            f"/api/v1/messages/{message['id']}", json={"text": "Meeting at 2 pm"}, headers=headers
        )
        await drain(make_worker(services, 1))
        assert fake.requests_of("EditMessageRequest")  # Telegram answered MESSAGE_NOT_MODIFIED
        assert actions_of(fake).view(account, message["telegram_message_id"]).edits == []
        assert [a["status"] for a in await actions(http, headers, message["id"])] == ["done"]


async def test_message_edit_time_expired_fails_the_edit_as_edit_window_expired(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, headers):
        message = await sent(services, http, headers)
        fake.fail_next("EditMessageRequest", "MESSAGE_EDIT_TIME_EXPIRED", 400)
        await http.patch(
            f"/api/v1/messages/{message['id']}", json={"text": "too late"}, headers=headers
        )
        await drain(make_worker(services, 1))
        [action] = await actions(http, headers, message["id"])
        assert (action["status"], action["error_code"]) == ("failed", "edit_window_expired")
        assert actions_of(fake).view(account, message["telegram_message_id"]).edits == []


async def test_a_deletion_through_the_api_revokes_the_message_for_the_person(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, headers):
        message = await sent(services, http, headers)
        response = await http.delete(f"/api/v1/messages/{message['id']}", headers=headers)
        assert response.status_code == 202, response.text
        await drain(make_worker(services, 1))
        assert actions_of(fake).view(account, message["telegram_message_id"]).deleted
        request = fake.requests_of("DeleteMessagesRequest")[-1]
        assert (request.id, request.revoke) == ([message["telegram_message_id"]], True)
        shown = (await http.get(f"/api/v1/messages/{message['id']}", headers=headers)).json()
        assert shown["deleted_at"] is not None


async def test_a_reaction_through_the_api_is_set_then_taken_back(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, headers):
        message = await sent(services, http, headers)
        url = f"/api/v1/messages/{message['id']}/reactions"
        view = actions_of(fake).view(account, message["telegram_message_id"])
        await http.post(url, json={"emoji": "👍"}, headers=headers)
        await drain(make_worker(services, 1))
        assert view.reactions == ["👍"]
        await http.post(url, json={"emoji": None}, headers=headers)
        await drain(make_worker(services, 1))
        assert view.reactions == []


async def test_a_reaction_on_the_persons_message_reaches_it(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        telegram_id = fake.person_sends(person, account, "Is the shop open today?")

        async def received() -> str | None:
            events = (await http.get("/api/v1/events", headers=headers)).json()["data"]
            ids = [
                e["data"]["id"]
                for e in events
                if e["type"] == "message.received"
                and e["data"]["text"] == "Is the shop open today?"
            ]
            return ids[0] if ids else None

        inbound_id = await eventually(received, "the message to be received")
        response = await http.post(
            f"/api/v1/messages/{inbound_id}/reactions", json={"emoji": "🔥"}, headers=headers
        )
        assert response.status_code == 202, response.text
        await drain(make_worker(services, 1))
        assert actions_of(fake).view(account, telegram_id).reactions == ["🔥"]


async def test_message_id_invalid_fails_the_action_as_message_gone(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, headers):
        message = await sent(services, http, headers)
        fake.fail_next("SendReactionRequest", "MESSAGE_ID_INVALID", 400)
        await http.post(
            f"/api/v1/messages/{message['id']}/reactions", json={"emoji": "👍"}, headers=headers
        )
        await drain(make_worker(services, 1))
        [action] = await actions(http, headers, message["id"])
        assert (action["status"], action["error_code"]) == ("failed", "message_gone")
        assert actions_of(fake).view(account, message["telegram_message_id"]).reactions == []
