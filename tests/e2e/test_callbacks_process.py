"""End to end: `tgw serve --sandbox` delivering per-message callbacks to a real local receiver
that verifies them with the client's callback secret (standardwebhooks library). The gateway
is killed with SIGKILL while the callbacks are pending (the receiver is down); after the
restart each arrives exactly once."""

from __future__ import annotations

from typing import Any

import httpx

from inbound.webhooks.callbacks import callback_endpoint_id
from tests.e2e.receiver import WebhookReceiver, running
from tests.e2e.test_serve_process import (
    CLIENT_ID,
    ServeHarness,
    create_client,
    free_port,
    harness,
    register,
)
from tests.waiting import eventually

__all__ = ["harness"]

NUMBER = "34612345001"


async def deliveries(
    http: httpx.AsyncClient, harness: ServeHarness, endpoint_id: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"/admin/webhooks/{endpoint_id}/deliveries?limit=500", headers=harness.admin_headers
    )
    if response.status_code == 404:
        return []  # not made yet: the first event is still being fanned out
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def test_a_pending_callback_survives_kill_9_and_arrives_exactly_once(
    harness: ServeHarness,
) -> None:
    harness.write_config(
        sending={"per_second": 0, "per_recipient_interval_s": 0},
        webhook_delivery={"allow_private_targets": True, "retry_schedule_s": [0.3] * 60},
    )
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        api = await create_client(http, harness)
        await register(http, harness, NUMBER, "Hi")
        shown = await http.get(
            f"/admin/clients/{CLIENT_ID}/callback-secret", headers=harness.admin_headers
        )
        assert shown.status_code == 200, shown.text
        receiver = WebhookReceiver(free_port(), shown.json()["secret"])  # not running yet
        by_header = await http.post(
            "/v3/telegram/single/text/message/1",
            json={"number": NUMBER, "message": "v3, callback by header"},
            headers={**api, "X-Callback-URL": receiver.url},
        )
        by_field = await http.post(
            "/api/v1/messages",
            json={"to": NUMBER, "text": "native, callback field", "callback_url": receiver.url},
            headers=api,
        )
        plain = await http.post("/api/v1/messages", json={"to": NUMBER, "text": "no"}, headers=api)
        assert [r.status_code for r in (by_header, by_field, plain)] == [200, 202, 202]
        mine = {by_header.json()["id"], by_field.json()["id"]}
        endpoint_id = callback_endpoint_id(CLIENT_ID, receiver.url)

        async def both_failing() -> list[dict[str, Any]] | None:
            rows = await deliveries(http, harness, endpoint_id)
            # One conversation: the second waits while the first is retried.
            tried = any(r["attempts"] >= 1 and r["last_error"] for r in rows)
            return rows if len(rows) == 2 and tried else None

        await eventually(both_failing, "the callbacks failing", timeout_s=20.0, interval_s=0.1)
    server.kill9()

    with running(receiver):
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:

            async def all_delivered() -> list[dict[str, Any]] | None:
                rows = await deliveries(http, harness, endpoint_id)
                done = len(rows) == 2 and all(r["status"] == "delivered" for r in rows)
                return rows if done else None

            rows = await eventually(
                all_delivered, "both callbacks delivered", timeout_s=30.0, interval_s=0.2
            )
            events = (await http.get("/api/v1/events?limit=1000", headers=api)).json()["data"]
    assert not receiver.bad_signatures, receiver.bad_signatures[:3]
    expected = {e["id"] for e in events if e["data"].get("id") in mine}
    assert {r["event_id"] for r in rows} == expected and len(expected) == 2
    received = receiver.snapshot()
    assert {r.webhook_id for r in received} == expected  # only these messages' events
    assert len(received) == 2  # each exactly once: nothing was in flight when it was killed
    assert {r.body["type"] for r in received} == {"message.sent"}
    assert {r.body["data"]["id"] for r in received} == mine
