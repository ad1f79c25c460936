"""Conversation history on the native API against the sandbox: the list of conversations with
their latest message and unread count, one conversation newest first, and backfills."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from sqlalchemy import func, select

from app.models import Event, HistoryMessage
from app.services import Services
from tests.conftest import ADMIN, Clock, drain, say

ANA = "34612345678"
BEN = "34612345679"
CAT = "34612345670"


async def send(http: httpx.AsyncClient, headers: dict[str, str], to: str, text: str) -> str:
    response = await http.post("/api/v1/messages", json={"to": to, "text": text}, headers=headers)
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def conversations(
    http: httpx.AsyncClient, headers: dict[str, str], query: str = ""
) -> dict[str, Any]:
    response = await http.get(f"/api/v1/conversations{query}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def chat(
    http: httpx.AsyncClient, headers: dict[str, str], number: str, query: str = ""
) -> dict[str, Any]:
    response = await http.get(f"/api/v1/conversations/{number}/messages{query}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def registered(http: httpx.AsyncClient, worker: Any, clock: Clock, number: str) -> None:
    await say(http, number, "Hi")
    clock.advance(1)
    await drain(worker)  # the registration reply
    clock.advance(1)


async def unseen(http: httpx.AsyncClient, number: str, text: str, *, outgoing: bool) -> int:
    response = await http.post(
        "/admin/sandbox/1/history",
        json={"number": number, "text": text, "outgoing": outgoing},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    message_id: int = response.json()["telegram_message_id"]
    return message_id


async def test_the_list_shows_each_persons_latest_message_in_either_direction(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    await registered(http, worker, clock, BEN)
    await send(http, api_client, ANA, "Your order shipped")
    await drain(worker)
    clock.advance(1)
    await say(http, BEN, "Where is my order?")
    listed = (await conversations(http, api_client))["data"]
    assert [c["number"] for c in listed] == [BEN, ANA]
    assert listed[0]["last_message"]["direction"] == "in"
    assert listed[0]["last_message"]["text"] == "Where is my order?"
    assert listed[1]["last_message"]["direction"] == "out"
    assert listed[1]["last_message"]["text"] == "Your order shipped"
    assert listed[1]["last_message"]["origin"] == "api"


async def test_unread_counts_the_persons_messages_since_the_account_last_wrote(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    await say(http, ANA, "one")
    await say(http, ANA, "two")
    assert (await conversations(http, api_client))["data"][0]["unread"] == 2
    await send(http, api_client, ANA, "answer")
    assert (await conversations(http, api_client))["data"][0]["unread"] == 2  # still queued
    await drain(worker)
    assert (await conversations(http, api_client))["data"][0]["unread"] == 0
    await say(http, ANA, "three")
    assert (await conversations(http, api_client))["data"][0]["unread"] == 1


async def test_the_list_pages_by_latest_activity_with_a_cursor(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    for number in (ANA, BEN, CAT):
        await registered(http, worker, clock, number)
    first = await conversations(http, api_client, "?limit=2")
    assert [c["number"] for c in first["data"]] == [CAT, BEN]
    rest = await conversations(http, api_client, f"?limit=2&after={first['next']}")
    assert [c["number"] for c in rest["data"]] == [ANA]
    assert rest["next"] is None


async def test_unregistered_people_are_listed_only_when_asked_for(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    await registered(http, worker, clock, BEN)
    removed = await http.delete(f"/api/v1/recipients/{BEN}", headers=api_client)
    assert removed.status_code == 200, removed.text
    assert [c["number"] for c in (await conversations(http, api_client))["data"]] == [ANA]
    left = await conversations(http, api_client, "?status=unregistered")
    assert [c["number"] for c in left["data"]] == [BEN]
    every = await conversations(http, api_client, "?status=all")
    assert [c["number"] for c in every["data"]] == [BEN, ANA]


async def test_a_conversation_reads_newest_first_in_pages_with_before(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    await send(http, api_client, ANA, "a")
    await drain(worker)
    clock.advance(1)
    await say(http, ANA, "b")
    clock.advance(1)
    await send(http, api_client, ANA, "c")
    await drain(worker)
    first = await chat(http, api_client, "+34 612 345 678", "?limit=3")
    assert [(m["direction"], m["text"]) for m in first["data"]] == [
        ("out", "c"),
        ("in", "b"),
        ("out", "a"),
    ]
    assert first["data"][0]["status"] == "sent" and first["data"][1]["status"] is None
    rest = await chat(http, api_client, ANA, f"?limit=3&before={first['next']}")
    assert [(m["direction"], m["origin"]) for m in rest["data"]] == [
        ("out", "system"),  # the registration reply
        ("in", None),  # "Hi"
    ]
    assert rest["next"] is None


async def test_an_unknown_number_is_404_with_a_clear_message(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get(f"/api/v1/conversations/{ANA}/messages", headers=api_client)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert ANA in error["message"] and "never written" in error["message"]


async def test_a_cursor_the_api_did_not_give_is_400(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    response = await http.get(
        f"/api/v1/conversations/{ANA}/messages?before=nonsense", headers=api_client
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field"


async def test_an_unknown_instance_is_404(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get("/api/v1/conversations?instance=7", headers=api_client)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_instance"


async def test_a_backfill_brings_messages_the_gateway_never_heard_of(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    phone = await unseen(http, ANA, "sent from my phone", outgoing=True)
    clock.advance(1)
    await say(http, ANA, "thanks")
    before = await chat(http, api_client, ANA)
    assert "sent from my phone" not in [m["text"] for m in before["data"]]
    response = await http.post(f"/api/v1/conversations/{ANA}/backfill", headers=api_client)
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["scanned"], done["stored"], done["known"]) == (4, 1, 3)
    assert done["next_before_id"] is None and done["flood_wait_s"] is None
    after = (await chat(http, api_client, ANA))["data"]
    assert [m["text"] for m in after[:2]] == ["thanks", "sent from my phone"]
    assert after[1]["telegram_message_id"] == phone
    assert (after[1]["origin"], after[1]["backfilled"]) == ("account", True)


async def test_a_backfill_makes_no_event(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    worker: Any,
    clock: Clock,
    services: Services,
) -> None:
    await registered(http, worker, clock, ANA)
    await unseen(http, ANA, "before the gateway ran", outgoing=False)
    async with services.database.read() as session:
        events_before = await session.scalar(select(func.count()).select_from(Event))
    response = await http.post(f"/api/v1/conversations/{ANA}/backfill", headers=api_client)
    assert response.json()["stored"] == 1
    async with services.database.read() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == events_before


async def test_a_second_backfill_stores_nothing_twice(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    worker: Any,
    clock: Clock,
    services: Services,
) -> None:
    await registered(http, worker, clock, ANA)
    await unseen(http, ANA, "from the phone", outgoing=True)
    await http.post(f"/api/v1/conversations/{ANA}/backfill", headers=api_client)
    again = await http.post(f"/api/v1/conversations/{ANA}/backfill", headers=api_client)
    assert (again.json()["stored"], again.json()["known"]) == (0, 3)
    async with services.database.read() as session:
        assert await session.scalar(select(func.count()).select_from(HistoryMessage)) == 1


async def test_a_backfill_goes_back_page_by_page_with_before_id(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    ids = [await unseen(http, ANA, f"old {i}", outgoing=True) for i in range(3)]
    first = await http.post(f"/api/v1/conversations/{ANA}/backfill?limit=2", headers=api_client)
    assert first.json()["next_before_id"] == ids[1]
    rest = await http.post(
        f"/api/v1/conversations/{ANA}/backfill?limit=10&before_id={ids[1]}", headers=api_client
    )
    assert rest.json()["scanned"] == 3  # old 0, the registration reply, "Hi"
    assert rest.json()["next_before_id"] is None


async def test_a_flood_wait_refuses_backfills_until_it_ends(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    fault = await http.post("/admin/sandbox/1/faults", json={"flood_wait_s": 30}, headers=ADMIN)
    assert fault.status_code in (200, 201), fault.text
    refused = await http.post(f"/api/v1/conversations/{ANA}/backfill", headers=api_client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    clock.advance(10)
    still = await http.post(f"/api/v1/conversations/{ANA}/backfill", headers=api_client)
    assert (still.status_code, still.headers["Retry-After"]) == (429, "20")
    clock.advance(21)
    done = await http.post(f"/api/v1/conversations/{ANA}/backfill", headers=api_client)
    assert done.status_code == 200, done.text


async def test_a_location_and_a_file_the_person_sent_are_described(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    point = {"latitude": 40.4168, "longitude": -3.7038, "title": "Sol", "address": "Madrid"}
    body = {"from": {"number": ANA}, "location": point}
    assert (await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)).is_success
    clock.advance(1)
    media = {"kind": "document", "base64": "JVBERi0xLjQ=", "filename": "a.pdf"}
    body = {"from": {"number": ANA}, "text": "the invoice", "media": media}
    assert (await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)).is_success
    newest, located = (await chat(http, api_client, ANA, "?limit=2"))["data"]
    assert (newest["kind"], newest["filename"], newest["size"]) == ("document", "a.pdf", 8)
    assert (newest["caption"], newest["text"]) == ("the invoice", None)
    assert newest["media_url"].startswith("http")
    assert located["kind"] == "location" and located["location"] == point


async def test_a_cursor_with_ids_out_of_range_is_400_not_a_database_error(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker, clock, ANA)
    forged = base64.urlsafe_b64encode(b"2026-11-25T12:00:00+00:00|99999999999999999999").decode()
    listed = await http.get(f"/api/v1/conversations?after={forged}", headers=api_client)
    assert listed.status_code == 400, listed.text
    forged = base64.urlsafe_b64encode(b"2026-11-25T12:00:00+00:00|99999999999999999999|x").decode()
    read = await http.get(
        f"/api/v1/conversations/{ANA}/messages?before={forged}", headers=api_client
    )
    assert read.status_code == 400, read.text
