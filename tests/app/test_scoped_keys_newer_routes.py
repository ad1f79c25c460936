"""Instance limits of API keys on the pull queues and the conversation history: a key limited
to instance 1 neither reads nor creates anything of instance 2 (two sandbox instances)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.app.test_scoped_keys import make_key, native_error, say_on


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "instances": [{"number": 1, "backend": "sandbox"}, {"number": 2, "backend": "sandbox"}],
    }


async def test_a_limited_keys_queue_gets_only_its_instances_events(
    http: httpx.AsyncClient,
) -> None:
    key = await make_key(http, "one@example.com", instances=[1])
    refused = await http.post(
        "/api/v1/event-queues", json={"name": "two", "instance": 2}, headers=key
    )
    native_error(refused, 403, "instance_forbidden")
    created = await http.post(
        "/api/v1/event-queues", json={"name": "mine", "start": "beginning"}, headers=key
    )
    assert created.status_code == 201, created.text
    await say_on(http, 1, "34612345678")
    await say_on(http, 2, "34698765432")
    batch = await http.get("/api/v1/event-queues/mine/next?limit=100", headers=key)
    assert batch.status_code == 200, batch.text
    instances = {e["instance_id"] for e in batch.json()["data"]}
    assert instances == {1}, batch.json()


async def test_a_limited_key_lists_and_reads_only_its_instances_conversations(
    http: httpx.AsyncClient,
) -> None:
    key = await make_key(http, "one@example.com", instances=[1])
    await say_on(http, 1, "34612345678")
    await say_on(http, 2, "34698765432")
    listed = await http.get("/api/v1/conversations?status=all", headers=key)
    assert listed.status_code == 200, listed.text
    assert [c["number"] for c in listed.json()["data"]] == ["34612345678"]
    refused = await http.get("/api/v1/conversations/34698765432/messages?instance=2", headers=key)
    native_error(refused, 403, "instance_forbidden")
    refused = await http.get("/api/v1/conversations?instance=2", headers=key)
    native_error(refused, 403, "instance_forbidden")


async def test_a_limited_keys_event_stream_holds_only_its_instances_events(
    http: httpx.AsyncClient,
) -> None:
    key = await make_key(http, "one@example.com", instances=[1])
    await say_on(http, 2, "34698765432")
    await say_on(http, 1, "34612345678")
    log = (await http.get("/api/v1/events", headers=key)).json()["data"]
    assert log and {e["instance_id"] for e in log} == {1}
    response = await http.get(
        "/api/v1/events/stream", params={"after": 0, "limit": len(log)}, headers=key
    )
    assert response.status_code == 200, response.text
    data_lines = [line for line in response.text.splitlines() if line.startswith("data: {")]
    bodies = [json.loads(line.removeprefix("data: ")) for line in data_lines]
    assert [b["seq"] for b in bodies if "seq" in b] == [e["seq"] for e in log]
    refused = await http.get("/api/v1/events/stream", params={"instance": 2}, headers=key)
    native_error(refused, 403, "instance_forbidden")


async def test_a_send_only_key_cannot_open_the_event_stream(http: httpx.AsyncClient) -> None:
    key = await make_key(http, "sender@example.com", scopes=["send"])
    refused = await http.get("/api/v1/events/stream", params={"after": 0}, headers=key)
    assert "'events'" in native_error(refused, 403, "scope_missing")
