"""End to end: a pull queue on a real `tgw serve --sandbox` survives a kill -9.

Events handed out and not acknowledged when the gateway dies come back once their lease
expires; acknowledged ones never do; after everything is acknowledged, each event was
acknowledged exactly once and none is missing.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.test_serve_process import PERSON, ServeHarness, create_client, register
from tests.waiting import eventually

QUEUE = "/api/v1/event-queues/e2e"
VISIBILITY_S = 2


async def say(http: httpx.AsyncClient, harness: ServeHarness, text: str) -> None:
    body = {"from": {"number": PERSON, "first_name": "Ana"}, "text": text}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=harness.admin_headers)
    assert response.status_code == 200, response.text


async def queue_state(http: httpx.AsyncClient, api: dict[str, str]) -> dict[str, Any]:
    response = await http.get(QUEUE, headers=api)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def take(
    http: httpx.AsyncClient, api: dict[str, str], limit: int, wait_s: int = 0
) -> list[tuple[int, str]]:
    response = await http.get(
        f"{QUEUE}/next", params={"limit": limit, "wait_s": wait_s}, headers=api
    )
    assert response.status_code == 200, response.text
    return [(e["seq"], e["message"]) for e in response.json()["data"]]


async def ack(http: httpx.AsyncClient, api: dict[str, str], seq: int) -> None:
    response = await http.post(f"{QUEUE}/ack", json={"seq": seq}, headers=api)
    assert response.status_code == 200, response.text


async def test_unacknowledged_events_come_back_after_a_kill_and_acknowledged_ones_never(
    harness: ServeHarness,
) -> None:
    server = await harness.start()
    acked: list[str] = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as http:
        api = await create_client(http, harness)
        await register(http, harness, PERSON, "Hi")
        created = await http.post(
            "/api/v1/event-queues",
            json={
                "name": "e2e",
                "types": ["message.received"],
                "visibility_timeout_s": VISIBILITY_S,
            },
            headers=api,
        )
        assert created.status_code == 201, created.text
        texts = [f"m{i}" for i in range(6)]
        for text in texts:
            await say(http, harness, text)

        async def all_pending() -> bool:
            return bool((await queue_state(http, api))["pending"] == len(texts))

        await eventually(all_pending, "the six messages in the queue", timeout_s=15.0)
        first = await take(http, api, 2)
        assert [t for _, t in first] == texts[:2]
        await ack(http, api, first[-1][0])
        acked += [t for _, t in first]
        leased = await take(http, api, 2)  # handed out, never acknowledged: the gateway dies
        assert [t for _, t in leased] == texts[2:4]
    server.kill9()

    restarted = await harness.start()
    async with httpx.AsyncClient(base_url=restarted.base_url, timeout=30.0) as http:

        async def lease_expired() -> bool:
            return bool((await queue_state(http, api))["lease_expires_at"] is None)

        await eventually(lease_expired, "the lease of m2 and m3 to expire", timeout_s=15.0)
        again = await take(http, api, 10)
        assert [t for _, t in again] == texts[2:]
        await ack(http, api, again[-1][0])
        acked += [t for _, t in again]
        await say(http, harness, "m6")
        later = await take(http, api, 10, wait_s=15)
        assert [t for _, t in later] == ["m6"]
        await ack(http, api, later[-1][0])
        acked += [t for _, t in later]
        assert await take(http, api, 10) == []
        assert (await queue_state(http, api))["pending"] == 0
    assert acked == [*texts, "m6"]
