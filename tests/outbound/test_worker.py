"""The send worker, driven step by step with the test clock, against the sandbox backend."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.cluster.ownership import make_worker
from app.models import Instance, Message
from app.services import Services
from app.timestamps import iso
from tests.conftest import ADMIN, Clock, drain, make_settings, say

NUMBER = "34612345678"


async def send_text(http: httpx.AsyncClient, headers: dict[str, str], text: str) -> str:
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": NUMBER, "message": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    message_id: str = response.json()["id"]
    return message_id


async def message(services: Services, message_id: str) -> Message:
    async with services.database.read() as session:
        row = await session.get(Message, message_id)
    assert row is not None
    return row


async def instance(services: Services) -> Instance:
    async with services.database.read() as session:
        row = await session.get(Instance, 1)
    assert row is not None
    return row


async def fault(http: httpx.AsyncClient, **body: Any) -> None:
    response = await http.post("/admin/sandbox/1/faults", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text


async def api_texts(services: Services) -> list[str]:
    rows = await services.telegram.sandboxes[1].sent_log(NUMBER)
    return [r["text"] for r in rows if r["text"] and r["text"].startswith("m")]


async def test_flood_wait_pauses_the_instance_until_the_given_time_then_resumes(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    worker = make_worker(services, 1)
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, flood_wait_s=30)
    ids = [await send_text(http, api_client, f"m{i}") for i in range(3)]
    await worker.step()  # the first send meets the FloodWait
    assert await worker.step() == 30
    paused = await instance(services)
    assert paused.status == "flood_wait"
    assert paused.paused_until == clock.now + timedelta(seconds=30)
    # A restarted worker (new process) sees the same pause: it is in the database.
    restarted = make_worker(services, 1)
    assert await restarted.step() > 0
    assert await api_texts(services) == []
    clock.advance(30)
    await drain(restarted)
    assert await api_texts(services) == ["m0", "m1", "m2"]
    assert [(await message(services, i)).status for i in ids] == ["sent"] * 3
    assert (await instance(services)).status == "ready"


async def test_blocked_person_fails_the_message_with_user_blocked(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="blocked", number=NUMBER)
    message_id = await send_text(http, api_client, "m-blocked")
    await drain(worker)
    row = await message(services, message_id)
    assert (row.status, row.error_code) == ("failed", "user_blocked")
    events = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    failed = [e for e in events if e["type"] == "message.failed"]
    assert failed[0]["data"]["error_code"] == "user_blocked"


async def test_permanent_errors_get_their_stable_codes(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    codes = {}
    for error, code in [
        ("deactivated", "user_deactivated"),
        ("privacy", "privacy_restricted"),
        ("peer_invalid", "peer_invalid"),
    ]:
        await fault(http, error=error, number=NUMBER)
        message_id = await send_text(http, api_client, f"m-{error}")
        await drain(worker)
        codes[code] = (await message(services, message_id)).error_code
    assert codes == {c: c for c in codes}


async def test_transient_error_retries_later_with_the_same_random_id(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    worker = make_worker(services, 1)
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="transient")
    message_id = await send_text(http, api_client, "m-retry")
    before = await message(services, message_id)
    wait_s = await worker.step()
    assert wait_s == 0
    retrying = await message(services, message_id)
    assert retrying.status == "queued" and retrying.last_error
    assert await worker.step() > 0  # not due yet
    clock.advance(2)
    await drain(worker)
    after = await message(services, message_id)
    assert after.status == "sent" and after.attempts == 2
    sent = [
        r for r in await services.telegram.sandboxes[1].sent_log(NUMBER) if r["text"] == "m-retry"
    ]
    assert [r["random_id"] for r in sent] == [before.random_id]


async def test_crash_after_the_send_and_before_recording_it_sends_only_once(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    """The process dies right after Telegram accepted the message: the retry is a duplicate."""
    worker = make_worker(services, 1)
    await say(http, NUMBER, "Hi")
    await drain(worker)
    message_id = await send_text(http, api_client, "m-once")
    claimed, _ = await services.database.background_sql.run(
        partial(worker.claims.claim, now=clock())
    )
    assert [m.id for m in claimed] == [message_id]
    await worker._send_one(claimed[0])  # Telegram took it ... and the process dies here
    clock.advance(11)  # the claim's lease runs out
    await drain(make_worker(services, 1))
    assert await api_texts(services) == ["m-once"]
    row = await message(services, message_id)
    assert row.status == "sent" and row.telegram_message_id is not None


async def test_messages_queued_longer_than_the_ttl_fail_as_expired(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    worker = make_worker(services, 1)
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, flood_wait_s=200_000)
    message_id = await send_text(http, api_client, "m-stale")
    await worker.step()
    clock.advance(86_401)
    await worker.step()
    row = await message(services, message_id)
    assert (row.status, row.error_code) == ("failed", "expired")


async def test_revoked_session_holds_the_queue_instead_of_failing(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="revoked")
    message_id = await send_text(http, api_client, "m-held")
    await worker.step()
    assert (await instance(services)).status == "revoked"
    assert (await message(services, message_id)).status == "queued"
    assert await worker.step() > 0  # nothing is attempted while revoked


async def test_peer_flood_stops_sending_and_sets_the_instance_status(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="peer_flood")
    message_id = await send_text(http, api_client, "m-pf")
    await worker.step()
    inst = await instance(services)
    assert inst.status == "restricted" and "PEER_FLOOD" in (inst.status_detail or "")
    assert (await message(services, message_id)).status == "queued"


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        ("account_banned", "banned", "banned"),
        ("account_deleted", "deactivated", "deleted"),
    ],
)
async def test_a_banned_or_deleted_account_holds_the_queue_and_says_so(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    clock: Clock,
    error: str,
    status: str,
    words: str,
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error=error)
    message_id = await send_text(http, api_client, f"m-{error}")
    await worker.step()
    inst = await instance(services)
    assert inst.status == status and words in (inst.status_detail or "")
    assert inst.status_since == clock.now
    assert (await message(services, message_id)).status == "queued"
    assert await worker.step() > 0  # nothing is attempted until a new login
    view = (await http.get("/admin/instances/1", headers=ADMIN)).json()
    assert (view["status"], view["status_since"]) == (status, iso(clock.now))
    events = (await http.get("/api/v1/events", params={"after": 0}, headers=api_client)).json()
    last = [e for e in events["data"] if e["type"] == "instance.status"][-1]["data"]
    assert (last["status"], last["since"]) == (status, iso(clock.now))


async def test_a_frozen_account_pauses_sending_and_tries_again_later(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any,
    clock: Clock,
) -> None:  # fmt: skip
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="account_frozen")
    message_id = await send_text(http, api_client, "m-frozen")
    await worker.step()
    inst = await instance(services)
    assert inst.status == "frozen" and "froze" in (inst.status_detail or "")
    assert inst.paused_until is not None and inst.paused_until > clock.now
    assert (await message(services, message_id)).status == "queued"
    clock.advance((inst.paused_until - clock.now).total_seconds() + 1)
    await drain(worker)  # the fault was for one try: it goes out now
    assert (await message(services, message_id)).status == "sent"
    assert (await instance(services)).status == "ready"


async def test_metrics_name_the_accounts_condition_and_the_time_since(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any,
    clock: Clock,
) -> None:  # fmt: skip
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="peer_flood")
    await send_text(http, api_client, "m-metrics")
    await worker.step()
    clock.advance(90)
    text = (await http.get("/metrics")).text
    assert 'tgw_instance_status{instance="1",status="restricted"} 1.0' in text
    assert 'tgw_instance_status{instance="1",status="ready"} 0.0' in text
    assert 'tgw_instance_status_since_seconds{instance="1"} 90.0' in text


class TestPacing:
    async def test_per_recipient_interval_keeps_order_and_spaces_sends(
        self,
        http: httpx.AsyncClient,
        api_client: dict[str, str],
        services: Services,
    ) -> None:
        now = [0.0]
        slept: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            slept.append(seconds)
            now[0] += seconds

        worker = make_worker(services, 1, paced=False)
        await say(http, NUMBER, "Hi")
        await drain(worker)
        paced_sending = make_settings(
            services.settings.database.url,
            sending={"per_second": 5, "per_recipient_interval_s": 1},
        ).sending
        from outbound.worker import SendWorker

        paced = SendWorker(
            1,
            services.telegram.backends[1],
            services.database,
            paced_sending,
            services.wakeup,
            services.clock,
            monotonic=lambda: now[0],
            sleep=fake_sleep,
        )
        for i in range(3):
            await send_text(http, api_client, f"m{i}")
        assert await paced.step() == 0  # m0 goes out
        wait_s = await paced.step()  # m1 must wait a second behind m0
        assert 0 < wait_s <= 1
        now[0] += wait_s
        await paced.step()
        now[0] += 1
        await paced.step()
        assert await api_texts(services) == ["m0", "m1", "m2"]


async def test_group_message_reaches_the_sandbox_group(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    group = {"group_name": "Night Shift Ops", "group_admin": "34611111111", "members": [NUMBER]}
    assert (
        await http.post("/admin/sandbox/1/groups", json=group, headers=ADMIN)
    ).status_code == 200
    response = await http.post(
        "/v3/telegram/group/text/message/1",
        json={
            "group_name": "Night Shift Ops",
            "group_admin": "34611111111",
            "message": "Backup done",
        },
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    await drain(worker)
    sent = await services.telegram.sandboxes[1].sent_log()
    assert [(r["group_name"], r["text"]) for r in sent] == [("Night Shift Ops", "Backup done")]


async def test_group_unknown_to_the_account_fails_as_group_not_found(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    response = await http.post(
        "/v3/telegram/group/text/message/1",
        json={"group_name": "Nope", "group_admin": "34611111111", "message": "x"},
        headers=api_client,
    )
    await drain(worker)
    row = await message(services, response.json()["id"])
    assert (row.status, row.error_code) == ("failed", "group_not_found")


async def test_read_mark_turns_sent_messages_read(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    message_id = await send_text(http, api_client, "m-read")
    await drain(worker)
    row = await message(services, message_id)
    body = {"number": NUMBER, "max_message_id": row.telegram_message_id}
    assert (await http.post("/admin/sandbox/1/read", json=body, headers=ADMIN)).status_code == 200
    status = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert status["status"] == "read" and status["read_at"]
    async with services.database.read() as session:
        assert (await session.scalars(select(Message).where(Message.status == "read"))).all()


async def test_native_reply_to_quotes_the_telegram_message_it_answers(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    first = await send_text(http, api_client, "m-first")
    await drain(worker)
    answer = await http.post(
        "/api/v1/messages",
        json={"instance": 1, "to": NUMBER, "text": "m-second", "reply_to": first},
        headers=api_client,
    )
    assert answer.status_code == 202, answer.text
    await drain(worker)
    rows = {r["text"]: r for r in await services.telegram.sandboxes[1].sent_log(NUMBER)}
    assert rows["m-second"]["reply_to"] == rows["m-first"]["message_id"]
