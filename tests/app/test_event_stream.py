"""GET /api/v1/events/stream as Server-Sent Events, in-process.

httpx's ASGI transport hands a response over once it is complete, so every stream here is
bounded (`limit`, `max_s`); live events are committed once the stream has subscribed to the
tail (which the app starts on the first stream and which wakes on every commit).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.services import Services
from inbound.stream.events import last_seq
from tests.app.sse import end, events, frames
from tests.conftest import say
from tests.inbound.stream.helpers import commit_events
from tests.waiting import eventually

STREAM = "/api/v1/events/stream"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "instances": [{"number": 1, "backend": "sandbox"}, {"number": 2, "backend": "sandbox"}],
        "event_stream": {"heartbeat_s": 30, "max_buffered_events": 5, "max_readers": 3},
    }


async def open_stream(
    http: httpx.AsyncClient, services: Services, headers: dict[str, str], **params: Any
) -> asyncio.Task[httpx.Response]:
    """A stream request in the background, once it is following the tail live."""
    before = services.event_tail.subscriptions if services.event_tail.closed is False else 0
    task = asyncio.create_task(http.get(STREAM, params=params, headers=headers))
    await eventually(
        lambda: task.done() or services.event_tail.subscriptions > before,
        what="the stream subscribed to the tail",
    )
    return task


async def test_a_stream_replays_after_a_seq_with_the_bodies_of_get_events(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    await say(http, "14155550101", "Hi")
    await say(http, "14155550101", "one")
    log = (await http.get("/api/v1/events", headers=api_client)).json()["data"]
    response = await http.get(STREAM, params={"after": 0, "limit": len(log)}, headers=api_client)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "content-length" not in response.headers  # a stream: its length is not known
    got = events(response.text)
    assert [f.json() for f in got] == log
    assert [(f.id, f.event) for f in got] == [(str(e["seq"]), e["type"]) for e in log]
    assert end(response.text).json() == {"reason": "limit", "resume_after": log[-1]["seq"]}


async def test_last_event_id_wins_over_after(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    seqs = await commit_events(services.database, 4)
    response = await http.get(
        STREAM,
        params={"after": 0, "limit": 2},
        headers={**api_client, "Last-Event-ID": str(seqs[1])},
    )
    assert [int(f.id or 0) for f in events(response.text)] == seqs[2:]


async def test_a_stream_without_after_starts_live_and_delivers_new_events(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    await commit_events(services.database, 3)  # before the stream: not sent
    task = await open_stream(http, services, api_client, limit=2)
    new = await commit_events(services.database, 2)
    response = await task
    assert [int(f.id or 0) for f in events(response.text)] == new


async def test_types_and_instance_filter_the_stream(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    await commit_events(services.database, 1, type_="message.sent", instance=2)
    await commit_events(services.database, 1, type_="message.received", instance=1)
    wanted = await commit_events(services.database, 1, type_="message.received", instance=2)
    await commit_events(services.database, 1, type_="message.received", instance=None)
    response = await http.get(
        STREAM,
        params={"after": 0, "types": "message.received,message.read", "instance": 2, "limit": 1},
        headers=api_client,
    )
    assert [int(f.id or 0) for f in events(response.text)] == wanted


@pytest.mark.parametrize(
    ("params", "headers", "status", "says"),
    [
        ({"types": "message.received,message.bogus"}, {}, 400, "message.bogus"),
        ({"types": ","}, {}, 400, "types"),
        ({"after": "-1"}, {}, 400, "after"),
        ({"max_s": "nan"}, {}, 400, "max_s"),
        ({"instance": "9"}, {}, 404, "number 9"),
        ({}, {"Last-Event-ID": "x1"}, 400, "Last-Event-ID"),
    ],
)
async def test_bad_parameters_are_refused_before_the_stream_opens(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
    says: str,
) -> None:
    response = await http.get(STREAM, params=params, headers={**api_client, **headers})
    assert response.status_code == status, response.text
    assert says in response.json()["error"]["message"]


async def test_a_stream_needs_the_client_credentials(http: httpx.AsyncClient) -> None:
    response = await http.get(STREAM, params={"limit": 1})
    assert response.status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"event_stream": {"heartbeat_s": 0.05}}])
async def test_heartbeats_are_sent_while_nothing_happens(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    newest = await last_seq(services.database)
    response = await http.get(STREAM, params={"max_s": 0.5}, headers=api_client)
    heartbeats = [f for f in frames(response.text) if f.comment == "heartbeat"]
    assert len(heartbeats) >= 3
    assert events(response.text) == []
    assert end(response.text).json() == {"reason": "max_s", "resume_after": newest}


async def test_a_reader_that_falls_behind_is_dropped_with_where_to_resume(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    first = await commit_events(services.database, 1)
    task = await open_stream(http, services, api_client)
    # One commit of more events than the reader may have buffered: the tail offers them all
    # before the reader can take one.
    await commit_events(services.database, 8)
    response = await task
    dropped = end(response.text)
    assert dropped.event == "dropped"
    assert dropped.json() == {"reason": "slow_reader", "resume_after": first[0]}
    assert events(response.text) == []
    assert services.event_tail.subscriptions == 0
    resumed = await http.get(
        STREAM, params={"limit": 8}, headers={**api_client, "Last-Event-ID": str(first[0])}
    )
    assert len(events(resumed.text)) == 8


async def test_streams_over_max_readers_are_refused_with_503(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    open_ = [await open_stream(http, services, api_client, limit=1) for _ in range(3)]
    refused = await http.get(STREAM, params={"limit": 1}, headers=api_client)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "too_many_streams"
    assert "max_readers" in refused.json()["error"]["message"]
    assert refused.headers["Retry-After"]
    await commit_events(services.database, 1)
    for task in open_:
        assert len(events((await task).text)) == 1
    assert services.event_tail.readers == 0


async def test_closing_the_services_ends_open_streams_with_shutdown(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    task = await open_stream(http, services, api_client)
    await services.event_tail.close()
    response = await task
    assert end(response.text).event == "dropped"
    assert end(response.text).json()["reason"] == "shutdown"


@pytest.mark.parametrize("settings_overrides", [{"event_stream": {"max_readers": 20}}])
async def test_twelve_readers_get_every_event_in_order(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    tasks = [await open_stream(http, services, api_client, limit=30) for _ in range(12)]
    expected: list[int] = []
    for _ in range(6):
        expected += await commit_events(services.database, 5)
    for task in tasks:
        assert [int(f.id or 0) for f in events((await task).text)] == expected
