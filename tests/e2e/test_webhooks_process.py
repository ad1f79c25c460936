"""End to end: `tgw serve --sandbox` delivering webhooks to a real local HTTP receiver that
verifies every signature with the standardwebhooks library.

1. The receiver answers 500 twice per event, then 200: every event of the log arrives, in seq
   order within each conversation.
2. The receiver is down while events pile up; the gateway is killed with SIGKILL (once with
   deliveries pending, once mid-delivery), restarted, the receiver comes up: every event
   arrives, none is lost; a repeat carries the same webhook-id.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import httpx

from tests.e2e.receiver import Received, WebhookReceiver, running
from tests.e2e.test_serve_process import (
    ServeHarness,
    create_client,
    free_port,
    harness,
    register,
)
from tests.waiting import eventually

__all__ = ["harness"]  # the fixture, shared with the other end-to-end tests

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PEOPLE = ["34612345001", "34612345002", "34612345003"]


def configure(harness: ServeHarness, receiver: WebhookReceiver, schedule: list[float]) -> None:
    harness.write_config(
        sending={"per_second": 0, "per_recipient_interval_s": 0},
        webhook_delivery={
            "allow_private_targets": True,
            "retry_schedule_s": schedule,
            "timeout_s": 5,
        },
    )
    # [[webhooks]] is an array of tables: appended by hand.
    with harness.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n')


async def all_events(http: httpx.AsyncClient, api: dict[str, str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await http.get(f"/api/v1/events?after={after}&limit=1000", headers=api)
        assert response.status_code == 200, response.text
        page = response.json()
        events.extend(page["data"])
        if not page["data"]:
            return events
        after = page["next_after"]


async def inbound(http: httpx.AsyncClient, harness: ServeHarness, number: str, text: str) -> None:
    body = {"from": {"number": number, "first_name": "Ana"}, "text": text}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=harness.admin_headers)
    assert response.status_code == 200, response.text


async def everything_arrived(
    http: httpx.AsyncClient, api: dict[str, str], receiver: WebhookReceiver, within_s: float
) -> list[dict[str, Any]]:
    async def complete() -> list[dict[str, Any]] | None:
        events = await all_events(http, api)
        return events if {e["id"] for e in events} <= set(receiver.delivered()) else None

    return await eventually(
        complete, "every event of the log at the receiver", timeout_s=within_s, interval_s=0.3
    )


def party(body: dict[str, Any]) -> str | None:
    """The other party's number: top-level on message.received only, else under `data`."""
    data = body["data"]
    found: str | None = body.get("number") or data.get("to") or data.get("number")
    return found


def assert_in_order_per_conversation(requests: list[Received]) -> None:
    """Within one conversation, requests never go back to an earlier seq."""
    by_conversation: dict[Any, list[int]] = defaultdict(list)
    for r in requests:
        key = (r.body["instance_id"], party(r.body))
        by_conversation[key].append(r.body["seq"])
    for key, seqs in by_conversation.items():
        assert seqs == sorted(seqs), f"conversation {key} out of order: {seqs}"


async def test_every_event_arrives_signed_and_in_order_despite_failures(
    harness: ServeHarness,
) -> None:
    receiver = WebhookReceiver(free_port(), SECRET, fail_first=2)
    configure(harness, receiver, [0.2, 0.2, 0.2, 0.2])
    with running(receiver):
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
            api = await create_client(http, harness)
            for number in PEOPLE:
                await register(http, harness, number, "Hi")
            for i in range(8):
                await asyncio.gather(*(inbound(http, harness, n, f"{n[-1]}-{i}") for n in PEOPLE))
            sent = await http.post(
                "/v3/telegram/single/text/message/1",
                json={"number": PEOPLE[0], "message": "thanks, noted"},
                headers=api,
            )
            assert sent.status_code == 200, sent.text
            events = await everything_arrived(http, api, receiver, 60.0)
    assert not receiver.bad_signatures, receiver.bad_signatures[:3]
    types = {e["type"] for e in events}
    assert {"message.received", "recipient.registered", "message.sent"} <= types
    requests = receiver.snapshot()
    per_id: dict[str, list[int]] = defaultdict(list)
    for r in requests:
        per_id[r.webhook_id].append(r.status)
    assert all(statuses[:3] == [500, 500, 200] for statuses in per_id.values()), per_id
    assert_in_order_per_conversation(requests)
    received = [
        r.body["message"]
        for r in requests
        if r.status == 200 and r.body["type"] == "message.received" and party(r.body) == PEOPLE[1]
    ]
    texts = [t for t in received if t and t.startswith("2-")]
    assert texts == [f"2-{i}" for i in range(8)]
    # The delivery log tells the same story.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        [endpoint] = (await http.get("/admin/webhooks", headers=harness.admin_headers)).json()[
            "data"
        ]
        assert endpoint["deliveries"]["delivered"] == len(events)
        page = await http.get(
            f"/admin/webhooks/{endpoint['id']}/deliveries?limit=1", headers=harness.admin_headers
        )
        [last] = page.json()["data"]
        assert [a["status_code"] for a in last["attempt_log"]] == [500, 500, 200]


async def test_nothing_is_lost_when_the_gateway_is_killed_while_the_receiver_is_down(
    harness: ServeHarness,
) -> None:
    receiver = WebhookReceiver(free_port(), SECRET)
    configure(harness, receiver, [0.3] * 60)
    server = await harness.start()  # the receiver is not running: deliveries fail and wait
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        api = await create_client(http, harness)
        for number in PEOPLE:
            await register(http, harness, number, "Hi")
        for i in range(10):
            await asyncio.gather(*(inbound(http, harness, n, f"{n[-1]}-{i}") for n in PEOPLE))
        before = await all_events(http, api)

        async def some_failed_attempts() -> bool | None:
            [endpoint] = (await http.get("/admin/webhooks", headers=harness.admin_headers)).json()[
                "data"
            ]
            return True if endpoint["deliveries"]["pending"] > 0 else None

        await eventually(
            some_failed_attempts,
            "deliveries waiting for the receiver",
            timeout_s=10.0,
            interval_s=0.1,
        )
    server.kill9()

    # Mid-delivery this time: the receiver holds each request for a while.
    receiver.hang_s = 2.0
    with running(receiver):
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
            for i in range(10, 13):
                await asyncio.gather(*(inbound(http, harness, n, f"{n[-1]}-{i}") for n in PEOPLE))
            await eventually(
                receiver.snapshot, "a delivery in flight", timeout_s=20.0, interval_s=0.1
            )
        server.kill9()
        in_flight_at_kill = {r.webhook_id for r in receiver.snapshot()}
        receiver.hang_s = 0.0
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
            events = await everything_arrived(http, api, receiver, 90.0)
    assert not receiver.bad_signatures, receiver.bad_signatures[:3]
    assert {e["id"] for e in before} <= {e["id"] for e in events}
    delivered = receiver.delivered()
    assert {e["id"] for e in events} <= set(delivered)
    assert set(delivered) <= {e["id"] for e in events}  # nothing made up
    for r in receiver.snapshot():  # a repeat is the same event under the same webhook-id
        assert r.body["id"] == r.webhook_id
    assert in_flight_at_kill
    first_success = [delivered[e["id"]] for e in events]
    assert_in_order_per_conversation(sorted(first_success, key=receiver.snapshot().index))
    texts = [r.body.get("message") for r in first_success if party(r.body) == PEOPLE[0]]
    assert [t for t in texts if t and t.startswith("1-")] == [f"1-{i}" for i in range(13)]
