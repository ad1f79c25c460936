"""Queue control through the native API: listing what waits on an instance and cancelling a
queued message or action, against the sandbox with the send worker driven step by step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.cluster.ownership import make_worker
from app.models import Instance, Message
from app.services import Services
from app.timestamps import iso
from outbound import cancel
from outbound.worker import EXPIRY_CHECK_S
from tests.conftest import ADMIN, Clock, drain, say

NUMBER = "34612345678"


async def queued(http: httpx.AsyncClient, headers: dict[str, str], text: str = "m1") -> str:
    response = await http.post(
        "/api/v1/messages", json={"to": NUMBER, "text": text}, headers=headers
    )
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def registered(http: httpx.AsyncClient, worker: Any) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)


async def texts_sent(http: httpx.AsyncClient) -> list[str]:
    log = (await http.get("/admin/sandbox/1/sent", headers=ADMIN)).json()["data"]
    return [m["text"] for m in log if m["text"] and m["text"].startswith("m")]


async def failed_events(http: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    events = (await http.get("/api/v1/events", headers=headers)).json()["data"]
    return [e["data"] for e in events if e["type"] == "message.failed"]


async def other_client(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post(
        "/admin/clients", json={"client_id": "other@example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return {
        "X-WM-CLIENT-ID": "other@example.com",
        "X-WM-CLIENT-SECRET": response.json()["client_secret"],
    }


async def test_the_list_filters_queued_messages_by_instance(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    sent = await queued(http, api_client, "m-sent")
    await drain(worker)
    waiting = [await queued(http, api_client, f"m{i}") for i in range(3)]
    first = await http.get("/api/v1/messages?status=queued&instance=1&limit=2", headers=api_client)
    assert first.status_code == 200, first.text
    rest = await http.get(
        f"/api/v1/messages?status=queued&instance=1&limit=2&after={first.json()['next']}",
        headers=api_client,
    )
    listed = [m["id"] for m in first.json()["data"] + rest.json()["data"]]
    assert listed == waiting and sent not in listed
    assert rest.json()["next"] is None


async def test_the_list_answers_404_for_an_unknown_instance_and_400_for_a_bad_one(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    unknown = await http.get("/api/v1/messages?instance=7", headers=api_client)
    bad = await http.get("/api/v1/messages?instance=one", headers=api_client)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_instance")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_field")


async def test_a_queued_message_cancelled_fails_as_cancelled_and_is_never_sent(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message_id = await queued(http, api_client)
    response = await http.post(f"/api/v1/messages/{message_id}/cancel", headers=api_client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["error_code"]) == (message_id, "failed", "cancelled")
    assert body["failed_at"] is not None
    await drain(worker)
    assert await texts_sent(http) == []
    events = await failed_events(http, api_client)
    assert [(e["id"], e["error_code"]) for e in events] == [(message_id, "cancelled")]


async def test_a_sent_message_cannot_be_cancelled(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message_id = await queued(http, api_client)
    await drain(worker)
    response = await http.post(f"/api/v1/messages/{message_id}/cancel", headers=api_client)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "not_cancellable"
    assert "is sent" in error["message"]


async def test_a_message_being_sent_cannot_be_cancelled(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await registered(http, worker)
    message_id = await queued(http, api_client)
    async with services.database.write() as session:
        await session.execute(
            update(Message).where(Message.id == message_id).values(status="sending")  # type: ignore[arg-type]
        )
    response = await http.post(f"/api/v1/messages/{message_id}/cancel", headers=api_client)
    assert response.status_code == 409, response.text
    assert "is sending" in response.json()["error"]["message"]


async def test_another_clients_message_is_not_found_and_stays_queued(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message_id = await queued(http, api_client)
    other = await other_client(http)
    response = await http.post(f"/api/v1/messages/{message_id}/cancel", headers=other)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    shown = await http.get(f"/api/v1/messages/{message_id}", headers=api_client)
    assert shown.json()["status"] == "queued"


async def test_a_worker_claim_between_the_cancels_read_and_write_sends_once_and_refuses_the_cancel(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, monkeypatch: Any
) -> None:
    await registered(http, worker)
    message_id = await queued(http, api_client)
    original = cancel.cancel_queued

    async def claim_first(*args: Any, **kwargs: Any) -> Any:
        # The cancel has read the row (queued); the worker claims and sends it before the write.
        return await original(*args, **kwargs, before_write=lambda: drain(worker))

    monkeypatch.setattr("app.routes.queue_control.cancel_queued", claim_first)
    response = await http.post(f"/api/v1/messages/{message_id}/cancel", headers=api_client)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_cancellable")
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert (shown["status"], shown["error_code"]) == ("sent", None)
    assert await texts_sent(http) == ["m1"]
    assert await failed_events(http, api_client) == []


async def test_a_cancel_that_commits_before_the_workers_claim_leaves_nothing_to_send(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message_id = await queued(http, api_client)
    response = await http.post(f"/api/v1/messages/{message_id}/cancel", headers=api_client)
    assert response.status_code == 200, response.text
    await drain(worker)
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert (shown["status"], shown["error_code"]) == ("failed", "cancelled")
    assert await texts_sent(http) == []


async def test_a_queued_reaction_can_be_cancelled_through_its_message(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    message_id = await queued(http, api_client)
    await drain(worker)
    reacted = await http.post(
        f"/api/v1/messages/{message_id}/reactions", json={"emoji": "👍"}, headers=api_client
    )
    assert reacted.status_code == 202, reacted.text
    action_id = reacted.json()["id"]
    wrong = await http.post(f"/api/v1/messages/{action_id}/cancel", headers=api_client)
    assert wrong.status_code == 404
    response = await http.post(
        f"/api/v1/messages/{message_id}/actions/{action_id}/cancel", headers=api_client
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["error_code"]) == ("failed", "cancelled")
    await drain(worker)
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert shown["reaction"] is None


async def pause(http: httpx.AsyncClient, action: str = "pause") -> dict[str, Any]:
    response = await http.post(f"/admin/instances/1/queue/{action}", headers=ADMIN)
    assert response.status_code == 200, response.text
    queue: dict[str, Any] = response.json()["queue"]
    return queue


async def test_a_paused_queue_holds_its_messages_and_resume_releases_them(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    first = await pause(http)
    again = await pause(http)
    assert first["paused"] and first == again  # pausing twice keeps the first pause
    message_id = await queued(http, api_client)
    await drain(worker)
    assert await texts_sent(http) == []
    shown = (await http.get("/admin/instances/1", headers=ADMIN)).json()["queue"]
    assert (shown["paused"], shown["queued"]) == (True, 1)
    resumed = await pause(http, "resume")
    assert (resumed["paused"], resumed["paused_at"]) == (False, None)
    await drain(worker)
    assert await texts_sent(http) == ["m1"]
    shown_message = await http.get(f"/api/v1/messages/{message_id}", headers=api_client)
    assert shown_message.json()["status"] == "sent"


async def test_a_pause_is_kept_by_a_new_process(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await registered(http, worker)
    await pause(http)
    await queued(http, api_client)
    restarted = make_worker(services, 1)  # a new worker reads the pause from the database
    await drain(restarted)
    assert await texts_sent(http) == []
    async with services.database.read() as session:
        inst = await session.get(Instance, 1)
    assert inst is not None and inst.queue_paused_at is not None


async def test_pausing_an_unknown_instance_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/instances/9/queue/pause", headers=ADMIN)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_instance")


async def test_a_paused_queue_still_expires_its_messages(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    await pause(http)
    message_id = await queued(http, api_client)
    clock.advance(10 * 24 * 3600)
    await drain(worker)
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert (shown["status"], shown["error_code"]) == ("failed", "expired")


async def test_a_message_with_ttl_s_expires_when_its_own_time_runs_out(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    await pause(http)  # held in the queue, so only the clock decides
    body = {"to": NUMBER, "text": "m1", "ttl_s": 60}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]
    assert response.json()["expires_at"] == iso(clock.now + timedelta(seconds=60))
    clock.advance(59)
    await drain(worker)
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert shown["status"] == "queued"
    clock.advance(1)
    await drain(worker)
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert (shown["status"], shown["error_code"]) == ("failed", "expired")
    events = await failed_events(http, api_client)
    assert [(e["id"], e["error_code"]) for e in events] == [(message_id, "expired")]


async def test_the_queue_is_searched_for_expired_messages_at_most_once_a_second(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    """The worker steps after every accepted batch; the search for expired messages runs at
    most every EXPIRY_CHECK_S of its clock, so a message fails as expired up to that late."""
    assert EXPIRY_CHECK_S == 1.0
    await registered(http, worker)
    await pause(http)
    body = {"to": NUMBER, "text": "m1", "ttl_s": 2}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]

    async def status() -> str:
        shown = await http.get(f"/api/v1/messages/{message_id}", headers=api_client)
        found: str = shown.json()["status"]
        return found

    clock.advance(1.5)
    await drain(worker)  # searched at +1.5 s: not expired yet (it expires at +2 s)
    assert await status() == "queued"
    clock.advance(0.7)
    await drain(worker)  # +2.2 s: past its expiry, but searched only 0.7 s ago
    assert await status() == "queued"
    clock.advance(0.3)
    await drain(worker)  # +2.5 s: a second since the last search
    assert await status() == "failed"


async def test_a_message_with_expires_at_expires_at_that_moment(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    await pause(http)
    at = clock.now + timedelta(minutes=5)
    body = {"to": NUMBER, "text": "m1", "expires_at": iso(at)}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]
    clock.advance(299)
    await drain(worker)
    await pause(http, "resume")
    clock.advance(1)
    await drain(worker)
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert (shown["status"], shown["error_code"]) == ("failed", "expired")
    assert await texts_sent(http) == []


async def test_a_message_sent_within_its_ttl_is_sent(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await registered(http, worker)
    body = {"to": NUMBER, "text": "m1", "ttl_s": 60}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    await drain(worker)
    shown = await http.get(f"/api/v1/messages/{response.json()['id']}", headers=api_client)
    assert shown.json()["status"] == "sent"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"ttl_s": 60, "expires_at": "2999-01-01T00:00:00Z"}, "not both"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "in the future"),
        ({"ttl_s": 86401}, "at most 86400"),
        ({"ttl_s": 0}, "'ttl_s' must be an integer"),
        ({"ttl_s": True}, "'ttl_s' must be an integer"),
        ({"expires_at": "tomorrow"}, "expires_at"),
    ],
)
async def test_a_bad_ttl_or_expiry_is_refused_with_400(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    worker: Any,
    clock: Clock,
    extra: dict[str, Any],
    words: str,
) -> None:
    await registered(http, worker)
    body = {"to": NUMBER, "text": "m1", **extra}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]


async def test_an_expires_at_further_than_the_ttl_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    at = clock.now + timedelta(seconds=86401)
    body = {"to": NUMBER, "text": "m1", "expires_at": iso(at)}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    assert response.status_code == 400, response.text
    assert "at most 86400 s away" in response.json()["error"]["message"]


async def test_a_multipart_upload_takes_ttl_s_as_a_form_field(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await registered(http, worker)
    response = await http.post(
        "/api/v1/messages",
        data={"to": NUMBER, "media_kind": "document", "ttl_s": "120"},
        files={"file": ("notes.txt", b"hello", "text/plain")},
        headers=api_client,
    )
    assert response.status_code == 202, response.text
    assert response.json()["expires_at"] == iso(clock.now + timedelta(seconds=120))
