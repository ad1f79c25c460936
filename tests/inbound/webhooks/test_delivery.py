"""The delivery worker, driven step by step with an injected clock and an httpx.MockTransport
receiver: signing, retries, ordering per conversation, 410, redirects, dead letters, recovery."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.events import append_event
from app.services import Services
from inbound.webhooks.delivery import TOPIC
from tests.conftest import Clock
from tests.inbound.webhooks.helpers import (
    Receiver,
    add_endpoint,
    attempts,
    deliveries,
    delivery_worker,
    endpoint,
    now_clock,
    private_dns,
    public_dns,
    write_event,
)
from tests.waiting import eventually

SCHEDULE = [5.0, 60.0]


@pytest.fixture
def clock() -> Clock:
    return now_clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_delivery": {"retry_schedule_s": SCHEDULE, "timeout_s": 2}}


@pytest.fixture
def receiver(services: Services) -> Receiver:
    services.resolve_host = public_dns
    return Receiver()


async def test_an_event_is_delivered_signed_with_its_id_as_webhook_id(
    services: Services, receiver: Receiver
) -> None:
    endpoint_id, secret = await add_endpoint(services)
    event_id = await write_event(services, text="where is my parcel?")
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [request] = receiver.requests
    assert request.url == "https://hooks.example.com/tgw"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == event_id
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert body["type"] == "message.received"
    assert body["id"] == event_id
    assert body["message"] == "where is my parcel?"
    assert body["number"] == "34600000001"
    assert body["instance_id"] == 1
    assert isinstance(body["seq"], int)
    [row] = await deliveries(services, endpoint_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    [attempt] = await attempts(services, row.id or 0)
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"


async def test_an_endpoint_gets_the_events_written_after_its_creation_only(
    services: Services, receiver: Receiver
) -> None:
    await write_event(services, text="before")
    await add_endpoint(services)
    await write_event(services, text="after")
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
        await worker.step()
    assert receiver.texts() == ["after"]


async def test_the_event_filter_limits_what_an_endpoint_gets(
    services: Services, receiver: Receiver
) -> None:
    await add_endpoint(services, events=["message.read"])
    await write_event(services, text="received")
    await write_event(services, text="read", type_="message.read")
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
        await worker.step()
    assert [b["type"] for b in receiver.bodies] == ["message.read"]


async def test_a_500_is_retried_on_schedule_with_the_same_webhook_id(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    receiver.answers = [500]
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
        [row] = await deliveries(services, endpoint_id)
        assert row.status == "pending" and row.last_status_code == 500
        wait = (row.next_attempt_at - clock.now).total_seconds()
        assert 5 * 0.8 <= wait <= 5 * 1.2
        assert await worker.step() == 0  # not due yet
        clock.advance(6.01)
        assert await worker.step() == 1
    assert len(receiver.requests) == 2
    assert receiver.ids[0] == receiver.ids[1]
    [row] = await deliveries(services, endpoint_id)
    assert (row.status, row.attempts) == ("delivered", 2)
    log = await attempts(services, row.id or 0)
    assert [a.status_code for a in log] == [500, 200]
    assert log[0].response_excerpt == "nope"


async def test_a_later_event_waits_while_an_earlier_one_of_its_conversation_is_retried(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    await add_endpoint(services)
    ana, ben = "34600000001", "34600000002"
    for text in ("a1", "a2", "a3"):
        await write_event(services, number=ana, text=text)
    await write_event(services, number=ben, text="b1")
    failed_once: set[str] = set()

    def fail_a1_once(request: httpx.Request, body: dict[str, Any]) -> int | None:
        if body["message"] == "a1" and "a1" not in failed_once:
            failed_once.add("a1")
            return 503
        return None

    receiver.rule = fail_a1_once
    async with delivery_worker(services, receiver) as worker:
        for _ in range(4):
            await worker.step()
        # Ana's a1 failed and waits for its retry; a2 and a3 wait behind it; Ben is not held.
        assert receiver.texts() == ["a1", "b1"]
        clock.advance(10)
        for _ in range(4):
            await worker.step()
    assert receiver.texts(ana) == ["a1", "a1", "a2", "a3"]
    assert receiver.texts(ben) == ["b1"]


async def test_one_conversation_has_one_delivery_in_flight_at_a_time(
    services: Services, receiver: Receiver
) -> None:
    await add_endpoint(services)
    for i in range(3):
        await write_event(services, number="34600000001", text=f"a{i}")
    for i in range(3):
        await write_event(services, number="34600000002", text=f"b{i}")
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 2  # the head of each conversation
        assert await worker.step() == 2
        assert await worker.step() == 2
        assert await worker.step() == 0
    assert receiver.texts("34600000001") == ["a0", "a1", "a2"]
    assert receiver.texts("34600000002") == ["b0", "b1", "b2"]


async def test_different_endpoints_are_delivered_in_parallel(services: Services) -> None:
    services.resolve_host = public_dns
    await add_endpoint(services, url="https://one.example.com/")
    await add_endpoint(services, url="https://two.example.com/")
    await write_event(services)
    both_arrived = asyncio.Event()
    arrived: list[str] = []

    class Meeting(Receiver):
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            arrived.append(request.url.host)
            if len(arrived) == 2:
                both_arrived.set()
            # Each receiver answers only once the other one was called: sequential delivery
            # would wait here for ever (bounded by the timeout below).
            await asyncio.wait_for(both_arrived.wait(), timeout=5)
            return httpx.Response(200)

    async with delivery_worker(services, Meeting()) as worker:
        assert await worker.step() == 2
    assert sorted(arrived) == ["one.example.com", "two.example.com"]
    assert {d.status for d in await deliveries(services)} == {"delivered"}


async def test_410_disables_the_endpoint_and_its_deliveries_wait(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services, number="34600000001")
    await write_event(services, number="34600000002")
    receiver.answers = [410, 410]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
        await write_event(services, number="34600000003")
        clock.advance(3600)
        assert await worker.step() == 0
    gone = await endpoint(services, endpoint_id)
    assert gone.enabled is False
    assert gone.disabled_reason is not None and "410" in gone.disabled_reason
    assert len(receiver.requests) == 2
    assert {d.status for d in await deliveries(services, endpoint_id)} == {"pending"}


async def test_a_redirect_is_not_followed_and_is_a_failure(
    services: Services, receiver: Receiver
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    receiver.answers = [httpx.Response(302, headers={"location": "https://elsewhere.example/"})]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    assert [r.url.host for r in receiver.requests] == ["hooks.example.com"]
    [row] = await deliveries(services, endpoint_id)
    assert (row.status, row.last_status_code) == ("pending", 302)


async def test_a_timeout_is_a_failure_with_its_reason(
    services: Services, receiver: Receiver
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    receiver.answers = [httpx.ReadTimeout("slow")]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    [row] = await deliveries(services, endpoint_id)
    assert row.status == "pending"
    [attempt] = await attempts(services, row.id or 0)
    assert attempt.status_code is None
    assert attempt.error is not None and "timeout_s" in attempt.error


@pytest.mark.parametrize(
    "settings_overrides",
    [{"webhook_delivery": {"retry_schedule_s": SCHEDULE, "timeout_s": 0.2}}],
)
async def test_a_receiver_that_never_answers_is_cut_off_at_timeout_s(
    services: Services, clock: Clock
) -> None:
    services.resolve_host = public_dns
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)

    class Silent(Receiver):
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(30)
            return httpx.Response(200)

    async with delivery_worker(services, Silent()) as worker:
        async with asyncio.timeout(5):
            await worker.step()
    [row] = await deliveries(services, endpoint_id)
    assert row.status == "pending"
    assert row.last_error is not None and "timeout_s (0.2 s)" in row.last_error


async def test_retry_after_is_honoured(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    receiver.answers = [httpx.Response(429, headers={"retry-after": "40"})]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    [row] = await deliveries(services, endpoint_id)
    assert (row.next_attempt_at - clock.now).total_seconds() == pytest.approx(40)


async def test_after_the_last_try_the_delivery_is_dead(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    receiver.rule = lambda request, body: 500
    async with delivery_worker(services, receiver) as worker:
        for _ in range(len(SCHEDULE) + 1):
            assert await worker.step() == 1
            clock.advance(3600)
        assert await worker.step() == 0
    [row] = await deliveries(services, endpoint_id)
    assert (row.status, row.attempts) == ("dead", len(SCHEDULE) + 1)
    assert len(await attempts(services, row.id or 0)) == len(SCHEDULE) + 1


async def test_a_dead_delivery_does_not_hold_up_its_conversation(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    await add_endpoint(services)
    await write_event(services, text="doomed")
    await write_event(services, text="next")
    receiver.rule = lambda request, body: 500 if body["message"] == "doomed" else None
    async with delivery_worker(services, receiver) as worker:
        for _ in range(len(SCHEDULE) + 2):
            await worker.step()
            clock.advance(3600)
    assert receiver.texts()[-1] == "next"
    assert [d.status for d in await deliveries(services)] == ["dead", "delivered"]


async def test_interrupted_deliveries_are_recovered_after_a_crash(
    services: Services, receiver: Receiver
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    event_id = await write_event(services)
    async with delivery_worker(services, receiver) as crashed:
        # Claimed (committed as `delivering`), then the process died before any answer.
        claims, _ = await services.database.background_sql.run(
            partial(crashed.rounds.unit, attempts=[], now=services.clock(), claim=True)
        )
        assert len(claims) == 1
    [row] = await deliveries(services, endpoint_id)
    assert row.status == "delivering"
    async with delivery_worker(services, receiver) as restarted:
        assert await restarted.recover() == 1
        assert await restarted.step() == 1
    assert receiver.ids == [event_id]
    [row] = await deliveries(services, endpoint_id)
    assert row.status == "delivered"


async def test_a_delivering_row_past_its_lease_is_claimed_again(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    async with delivery_worker(services, receiver) as crashed:
        await services.database.background_sql.run(
            partial(crashed.rounds.unit, attempts=[], now=services.clock(), claim=True)
        )
    async with delivery_worker(services, receiver) as other:
        assert await other.step() == 0  # still leased: another process may be at it
        clock.advance(2 + 31)  # timeout_s + 30 s
        assert await other.step() == 1
    assert [d.status for d in await deliveries(services, endpoint_id)] == ["delivered"]


async def test_a_target_that_now_resolves_to_a_private_address_is_refused(
    services: Services, receiver: Receiver
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    services.resolve_host = private_dns
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    assert receiver.requests == []
    [row] = await deliveries(services, endpoint_id)
    assert row.status == "pending"
    assert row.last_error is not None and "10.0.0.8" in row.last_error


async def test_only_the_first_kib_of_a_response_is_kept(
    services: Services, receiver: Receiver
) -> None:
    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    receiver.answers = [httpx.Response(500, content=b"x" * 5000 + b"\x00")]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    [row] = await deliveries(services, endpoint_id)
    [attempt] = await attempts(services, row.id or 0)
    assert attempt.response_excerpt == "x" * 1024


async def test_writing_an_event_wakes_the_worker(services: Services) -> None:
    assert not await services.wakeup.wait(TOPIC, 0.01)
    async with services.database.write() as session:
        await append_event(
            session, "instance.status", now=services.clock(), instance=1, data={"status": "ready"}
        )
    assert await services.wakeup.wait(TOPIC, 0.01)


async def test_a_rotated_secret_signs_with_both_secrets_for_24_hours(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    from app.models import WebhookEndpoint
    from inbound.webhooks.endpoints import rotate_secret

    endpoint_id, old = await add_endpoint(services)
    async with services.database.write() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        new = rotate_secret(row, services.secret_box, clock.now)
    await write_event(services)
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(request.content, dict(request.headers))
    Webhook(old).verify(request.content, dict(request.headers))
    # A day later only the new secret signs.
    clock.now += timedelta(hours=24, seconds=1)
    await write_event(services)
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    assert len(receiver.requests[1].headers["webhook-signature"].split(" ")) == 1


async def test_metrics_show_open_deliveries_and_their_age(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    from app.main import create_app

    endpoint_id, _ = await add_endpoint(services)
    await write_event(services)
    receiver.answers = [500]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    clock.advance(30)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as http:
        text = (await http.get("/metrics")).text
    assert f'tgw_webhook_deliveries{{endpoint="{endpoint_id}",status="pending"}} 1.0' in text
    assert f'tgw_webhook_oldest_pending_seconds{{endpoint="{endpoint_id}"}} 30.0' in text
    assert f'tgw_webhook_endpoint_enabled{{endpoint="{endpoint_id}"}} 1.0' in text


async def test_an_endpoint_deleted_mid_delivery_does_not_block_the_worker(
    services: Services, receiver: Receiver
) -> None:
    from app.models import WebhookEndpoint
    from inbound.webhooks.endpoints import delete_endpoint

    doomed, _ = await add_endpoint(services, url="https://doomed.example.com/")
    await write_event(services)
    async with delivery_worker(services, receiver) as worker:
        claims, _ = await services.database.background_sql.run(
            partial(worker.rounds.unit, attempts=[], now=services.clock(), claim=True)
        )
        attempts = [await worker.attempt(c) for c in claims]
        async with services.database.write() as session:
            row = await session.get(WebhookEndpoint, doomed)
            assert row is not None
            await delete_endpoint(session, row)
        await services.database.background_sql.run(
            partial(worker.rounds.unit, attempts=attempts, now=services.clock(), claim=False)
        )
        kept, _ = await add_endpoint(services)
        await write_event(services)
        assert await worker.step() == 1
    assert [d.endpoint_id for d in await deliveries(services)] == [kept]


async def test_the_running_worker_delivers_what_is_written_while_it_runs(
    services: Services, receiver: Receiver
) -> None:
    """`run()`: woken by the commit of each event (no polling), attempts in tasks, records in
    later rounds; bounded in time, cancelled at the end."""
    endpoint_id, _ = await add_endpoint(services)
    async with delivery_worker(services, receiver) as worker:
        task = asyncio.create_task(worker.run())
        try:
            ids = [await write_event(services, number=f"3460000000{i % 3}") for i in range(9)]

            async def all_delivered() -> bool:
                rows = await deliveries(services, endpoint_id)
                assert len(rows) == 9, f"{len(rows)} deliveries"
                assert {d.status for d in rows} == {"delivered"}, [d.status for d in rows]
                return True

            await eventually(all_delivered, "all nine events to be delivered", timeout_s=10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert sorted(receiver.ids) == sorted(ids)


async def test_deliveries_in_flight_per_endpoint_are_bounded(
    services: Services, receiver: Receiver
) -> None:
    await add_endpoint(services)
    for i in range(5):
        await write_event(services, number=f"3460000000{i}")  # five conversations
    async with delivery_worker(services, receiver, per_endpoint=2) as worker:
        assert await worker.step() == 2
        assert await worker.step() == 2
        assert await worker.step() == 1


async def test_after_rotating_away_from_an_unreadable_secret_the_new_one_signs(
    services: Services, receiver: Receiver, clock: Clock
) -> None:
    from app.models import WebhookEndpoint
    from inbound.webhooks.endpoints import SecretBox, rotate_secret

    endpoint_id, _ = await add_endpoint(services)
    services.secret_box = SecretBox.from_secret_key("the secret_key changed")
    async with services.database.write() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        new = rotate_secret(row, services.secret_box, clock.now)
    await write_event(services)
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
    [request] = receiver.requests
    Webhook(new).verify(request.content, dict(request.headers))


async def test_an_endpoint_far_behind_does_not_hold_up_the_others(services: Services) -> None:
    from inbound.webhooks.fanout import fan_out

    behind, _ = await add_endpoint(services)
    for i in range(6):
        await write_event(services, text=f"old-{i}")
    current, _ = await add_endpoint(services)
    await write_event(services, text="new")
    created, more = await services.database.background_sql.run(
        partial(fan_out, now=services.clock(), batch=2)
    )
    assert more and created == 3
    assert len(await deliveries(services, current)) == 1  # at once, not after the backlog
    assert len(await deliveries(services, behind)) == 2


async def test_a_busy_endpoint_backlog_does_not_starve_another_endpoint(
    services: Services, receiver: Receiver
) -> None:
    from inbound.webhooks import rounds

    services.resolve_host = public_dns
    busy, _ = await add_endpoint(services, url="https://busy.example.com/")
    for i in range(6):
        await write_event(services, number=f"3460000000{i}")
    other, _ = await add_endpoint(services, url="https://other.example.com/")
    await write_event(services, number="34600000099")
    async with delivery_worker(services, receiver, per_endpoint=2) as worker:
        original = rounds.CLAIM_BATCH
        rounds.CLAIM_BATCH = 3  # the busy endpoint's heads alone would fill a batch
        try:
            claims, _ = await services.database.background_sql.run(
                partial(
                    worker.rounds.unit,
                    attempts=[],
                    now=services.clock(),
                    claim=True,
                    in_flight={busy: 2},
                )
            )
        finally:
            rounds.CLAIM_BATCH = original
    assert [c.endpoint_id for c in claims] == [other]
