"""Editing, deleting and reacting to messages through the native API, against the sandbox: what
the person sees (the sandbox's sent log), the message resource, the action resource and the
events; the send worker driven step by step with the test clock."""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.cluster.ownership import make_worker
from app.models import DailyUsage, Message
from app.services import Services
from app.telegram.port import MessageGone, UserPeer
from app.telegram.sandbox import fake_access_hash, fake_user_id
from app.telegram.sandbox.tables import SandboxMessage
from tests.conftest import ADMIN, Clock, drain, say

NUMBER = "34612345678"
HOUR_S = 3600


async def sent_message(
    http: httpx.AsyncClient, headers: dict[str, str], worker: Any, **body: Any
) -> dict[str, Any]:
    """A message sent (and drained) to NUMBER, as GET /api/v1/messages/{id} shows it."""
    body = {"to": NUMBER, **body} if "media" in body else {"to": NUMBER, "text": "v1", **body}
    response = await http.post("/api/v1/messages", json=body, headers=headers)
    assert response.status_code == 202, response.text
    await drain(worker)
    shown = await http.get(f"/api/v1/messages/{response.json()['id']}", headers=headers)
    message: dict[str, Any] = shown.json()
    assert message["status"] == "sent", message
    return message


async def seen(http: httpx.AsyncClient, telegram_id: int) -> dict[str, Any]:
    """The message as the person sees it (the sandbox's sent log)."""
    log = (await http.get("/admin/sandbox/1/sent", headers=ADMIN)).json()["data"]
    found: dict[str, Any] = next(m for m in log if m["message_id"] == telegram_id)
    return found


async def events_of(http: httpx.AsyncClient, headers: dict[str, str], type_: str) -> list[Any]:
    events = (await http.get("/api/v1/events", headers=headers)).json()["data"]
    return [e["data"] for e in events if e["type"] == type_]


async def registered(http: httpx.AsyncClient, worker: Any, number: str = NUMBER) -> None:
    await say(http, number, "Hi")
    await drain(worker)


async def test_an_edit_changes_the_text_the_person_sees_and_writes_message_edited(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker, text="Meeting at 2 pm")
    response = await http.patch(
        f"/api/v1/messages/{message['id']}", json={"text": "Meeting at 3 pm"}, headers=api_client
    )
    assert response.status_code == 202, response.text
    action = response.json()
    assert (action["action"], action["status"], action["message_id"]) == (
        "edit",
        "queued",
        message["id"],
    )
    assert (await seen(http, message["telegram_message_id"]))["text"] == "Meeting at 2 pm"
    clock.advance(5)
    await drain(worker)
    person = await seen(http, message["telegram_message_id"])
    assert (person["text"], person["edited_at"] is not None) == ("Meeting at 3 pm", True)
    edited = await events_of(http, api_client, "message.edited")
    assert edited == [
        {
            "id": message["id"],
            "telegram_message_id": message["telegram_message_id"],
            "direction": "outbound",
            "text": "Meeting at 3 pm",
            "edited_at": person["edited_at"],
            "sender": None,
            "group": None,
        }
    ]
    shown = (await http.get(f"/api/v1/messages/{message['id']}", headers=api_client)).json()
    assert shown["edited_at"] == person["edited_at"]
    actions = await http.get(f"/api/v1/messages/{message['id']}/actions", headers=api_client)
    assert [(a["id"], a["status"]) for a in actions.json()["data"]] == [(action["id"], "done")]


async def test_an_edit_of_a_medium_changes_its_caption(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    media = {
        "kind": "document",
        "base64": base64.b64encode(b"minutes of the meeting\n").decode(),
        "filename": "minutes.txt",
        "caption": "draft",
    }
    message = await sent_message(http, api_client, worker, media=media)
    response = await http.patch(
        f"/api/v1/messages/{message['id']}", json={"text": "final"}, headers=api_client
    )
    assert response.status_code == 202, response.text
    await drain(worker)
    person = await seen(http, message["telegram_message_id"])
    assert (person["caption"], person["filename"]) == ("final", "minutes.txt")


async def test_an_edit_48_hours_after_sending_is_refused_with_edit_window_expired(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    clock.advance(48 * HOUR_S)
    response = await http.patch(
        f"/api/v1/messages/{message['id']}", json={"text": "too late"}, headers=api_client
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "edit_window_expired"
    assert "48 h" in response.json()["error"]["message"]


async def test_an_edit_that_reaches_telegram_after_the_window_fails_as_edit_window_expired(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    clock.advance(48 * HOUR_S - 60)
    response = await http.patch(
        f"/api/v1/messages/{message['id']}", json={"text": "just in time?"}, headers=api_client
    )
    assert response.status_code == 202, response.text
    clock.advance(120)  # the queue was slow: Telegram's window closed meanwhile
    await drain(worker)
    actions = await http.get(f"/api/v1/messages/{message['id']}/actions", headers=api_client)
    [action] = actions.json()["data"]
    assert (action["status"], action["error_code"]) == ("failed", "edit_window_expired")
    assert (await seen(http, message["telegram_message_id"]))["text"] == "v1"
    assert await events_of(http, api_client, "message.edited") == []


async def test_a_message_not_sent_yet_cannot_be_edited(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    response = await http.post(
        "/api/v1/messages", json={"to": NUMBER, "text": "queued"}, headers=api_client
    )
    queued = response.json()["id"]
    response = await http.patch(
        f"/api/v1/messages/{queued}", json={"text": "edited"}, headers=api_client
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "message_not_sent"
    assert "queued" in response.json()["error"]["message"]


async def test_another_clients_message_is_not_found(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    created = await http.post("/admin/clients", json={"client_id": "b@example.com"}, headers=ADMIN)
    other = {
        "X-WM-CLIENT-ID": "b@example.com",
        "X-WM-CLIENT-SECRET": created.json()["client_secret"],
    }
    for response in (
        await http.patch(f"/api/v1/messages/{message['id']}", json={"text": "x"}, headers=other),
        await http.delete(f"/api/v1/messages/{message['id']}", headers=other),
        await http.post(
            f"/api/v1/messages/{message['id']}/reactions", json={"emoji": "👍"}, headers=other
        ),
        await http.get(f"/api/v1/messages/{message['id']}/actions", headers=other),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"


async def test_a_deletion_removes_the_message_for_the_person_and_writes_message_deleted(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    response = await http.delete(f"/api/v1/messages/{message['id']}", headers=api_client)
    assert response.status_code == 202, response.text
    assert response.json()["action"] == "delete"
    await drain(worker)
    person = await seen(http, message["telegram_message_id"])
    assert person["deleted"] is True
    [deleted] = await events_of(http, api_client, "message.deleted")
    assert (deleted["id"], deleted["direction"], deleted["deleted_at"]) == (
        message["id"],
        "outbound",
        person["deleted_at"],
    )
    shown = (await http.get(f"/api/v1/messages/{message['id']}", headers=api_client)).json()
    assert shown["deleted_at"] == person["deleted_at"]
    again = await http.patch(
        f"/api/v1/messages/{message['id']}", json={"text": "x"}, headers=api_client
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "message_deleted")


async def test_a_reaction_is_set_then_taken_back(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    url = f"/api/v1/messages/{message['id']}/reactions"
    assert (await http.post(url, json={"emoji": "👍"}, headers=api_client)).status_code == 202
    await drain(worker)
    assert (await seen(http, message["telegram_message_id"]))["reactions"] == ["👍"]
    shown = (await http.get(f"/api/v1/messages/{message['id']}", headers=api_client)).json()
    assert shown["reaction"] == "👍"
    assert (await http.post(url, json={"emoji": None}, headers=api_client)).status_code == 202
    await drain(worker)
    assert (await seen(http, message["telegram_message_id"]))["reactions"] == []
    reactions = await events_of(http, api_client, "message.reaction")
    assert [(r["id"], r["direction"], r["emojis"]) for r in reactions] == [
        (message["id"], "outbound", ["👍"]),
        (message["id"], "outbound", []),
    ]


async def test_a_reaction_on_a_message_the_person_sent_reaches_that_message(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await registered(http, worker)
    said = await say(http, NUMBER, "Is the shop open today?")
    await drain(worker)
    received = await events_of(http, api_client, "message.received")
    inbound = next(r for r in received if r["text"] == "Is the shop open today?")
    response = await http.post(
        f"/api/v1/messages/{inbound['id']}/reactions", json={"emoji": "👍"}, headers=api_client
    )
    assert response.status_code == 202, response.text
    await drain(worker)
    [reaction] = await events_of(http, api_client, "message.reaction")
    assert (reaction["id"], reaction["emojis"]) == (inbound["id"], ["👍"])
    # The person's message carries the account's reaction in the simulated Telegram.
    async with services.database.read() as session:
        reacted = await session.scalar(
            select(SandboxMessage.reaction).where(
                SandboxMessage.message_id == said["message_id"], SandboxMessage.direction == "in"
            )
        )
    assert reacted == "👍"
    actions = await http.get(f"/api/v1/messages/{inbound['id']}/actions", headers=api_client)
    assert [a["status"] for a in actions.json()["data"]] == ["done"]


async def test_a_bad_emoji_or_none_given_is_a_400(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    url = f"/api/v1/messages/{message['id']}/reactions"
    for body, code in (({}, "missing_field"), ({"emoji": "a b"}, "invalid_field")):
        response = await http.post(url, json=body, headers=api_client)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code)


async def test_actions_are_not_listed_as_messages_nor_counted_in_the_quota(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    await http.delete(f"/api/v1/messages/{message['id']}", headers=api_client)
    listed = (await http.get("/api/v1/messages", headers=api_client)).json()["data"]
    assert [m["id"] for m in listed] == [message["id"]]
    async with services.database.read() as session:
        counted = list(await session.scalars(select(DailyUsage.count)))
    assert counted == [1]


async def test_a_repeated_idempotency_key_queues_the_action_once(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    headers = {**api_client, "Idempotency-Key": "edit-1"}
    url = f"/api/v1/messages/{message['id']}"
    first = await http.patch(url, json={"text": "v2"}, headers=headers)
    second = await http.patch(url, json={"text": "v2"}, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == second.json()
    other = await http.patch(url, json={"text": "v3"}, headers=headers)
    assert other.json()["error"]["code"] == "idempotency_conflict"
    async with services.database.read() as session:
        rows = list(
            await session.scalars(select(Message).where(Message.target_id == message["id"]))
        )
    assert len(rows) == 1


async def test_an_action_claimed_by_a_worker_that_died_is_made_once_after_the_restart(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    worker = make_worker(services, 1)
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    response = await http.patch(
        f"/api/v1/messages/{message['id']}", json={"text": "v2"}, headers=api_client
    )
    claimed, _ = await services.database.background_sql.run(
        partial(worker.claims.claim, now=clock())
    )
    assert [c.id for c in claimed] == [response.json()["id"]]
    await worker._send_one(claimed[0])  # Telegram took the edit ... and the process dies here
    restarted = make_worker(services, 1)
    assert await restarted.recover() == 1
    await drain(restarted)
    assert (await seen(http, message["telegram_message_id"]))["text"] == "v2"
    assert len(await events_of(http, api_client, "message.edited")) == 1
    actions = await http.get(f"/api/v1/messages/{message['id']}/actions", headers=api_client)
    assert [(a["status"], a["attempts"]) for a in actions.json()["data"]] == [("done", 2)]


async def test_a_flood_wait_on_an_action_pauses_the_queue_then_makes_it(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    fault = await http.post("/admin/sandbox/1/faults", json={"flood_wait_s": 30}, headers=ADMIN)
    assert fault.status_code == 201
    await http.delete(f"/api/v1/messages/{message['id']}", headers=api_client)
    await drain(worker)
    status = (await http.get("/admin/instances/1", headers=ADMIN)).json()["status"]
    assert status == "flood_wait"
    assert (await seen(http, message["telegram_message_id"]))["deleted"] is False
    clock.advance(31)
    await drain(worker)
    assert (await seen(http, message["telegram_message_id"]))["deleted"] is True


async def test_the_sandbox_refuses_to_edit_a_deleted_message(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    await http.delete(f"/api/v1/messages/{message['id']}", headers=api_client)
    await drain(worker)
    peer = UserPeer(fake_user_id(NUMBER), fake_access_hash(1, fake_user_id(NUMBER)))
    sandbox = services.telegram.sandboxes[1]
    with pytest.raises(MessageGone):
        await sandbox.edit(peer, message["telegram_message_id"], "x", caption=False)


async def test_an_edit_in_a_group_names_the_group_in_its_event(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    group = {"group_name": "Night Shift Ops", "group_admin": "34611111111", "members": [NUMBER]}
    created = await http.post("/admin/sandbox/1/groups", json=group, headers=ADMIN)
    assert created.is_success, created.text
    body = {"group_name": "Night Shift Ops", "group_admin": "34611111111", "text": "v1"}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    assert response.status_code == 202, response.text
    await drain(worker)
    message = (
        await http.get(f"/api/v1/messages/{response.json()['id']}", headers=api_client)
    ).json()
    await http.patch(f"/api/v1/messages/{message['id']}", json={"text": "v2"}, headers=api_client)
    await drain(worker)
    person = await seen(http, message["telegram_message_id"])
    assert (person["group_name"], person["text"]) == ("Night Shift Ops", "v2")
    [edited] = await events_of(http, api_client, "message.edited")
    assert edited["group"]["title"] == "Night Shift Ops"
    assert isinstance(edited["group"]["id"], int)


async def test_an_action_held_past_the_ttl_fails_as_expired_without_a_message_failed_event(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    message = await sent_message(http, api_client, worker)
    fault = await http.post(
        "/admin/sandbox/1/faults", json={"flood_wait_s": 200_000}, headers=ADMIN
    )
    assert fault.status_code == 201
    await http.delete(f"/api/v1/messages/{message['id']}", headers=api_client)
    await worker.step()
    clock.advance(86_401)
    await worker.step()
    actions = await http.get(f"/api/v1/messages/{message['id']}/actions", headers=api_client)
    [action] = actions.json()["data"]
    assert (action["status"], action["error_code"]) == ("failed", "expired")
    assert await events_of(http, api_client, "message.failed") == []
    assert await events_of(http, api_client, "message.deleted") == []
