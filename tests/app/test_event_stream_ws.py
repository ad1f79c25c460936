"""GET /api/v1/events/stream over a WebSocket, in-process (httpx-ws's ASGI transport)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, WebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from app.cluster.ownership import start_instances
from app.main import create_app
from app.services import Services
from tests.conftest import ADMIN
from tests.inbound.stream.helpers import commit_events
from tests.waiting import eventually

STREAM = "/api/v1/events/stream"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"event_stream": {"heartbeat_s": 30, "max_buffered_events": 5}}


@contextlib.asynccontextmanager
async def gateway(services: Services) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The app behind httpx-ws's transport, and an API client's headers. (Entered in the test
    itself: the transport's task group must be left in the task that entered it.)"""
    app = create_app(services)
    await start_instances(services, workers=False)
    transport = ASGIWebSocketTransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as client:
            response = await client.post(
                "/admin/clients", json={"client_id": "ws@example.com"}, headers=ADMIN
            )
            assert response.status_code == 201, response.text
            secret = response.json()["client_secret"]
            yield client, {"X-WM-CLIENT-ID": "ws@example.com", "X-WM-CLIENT-SECRET": secret}
    finally:
        for backend in services.telegram.backends.values():
            await backend.stop()


async def texts(ws: WebSocketSession, count: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.receive_text(timeout=15)) for _ in range(count)]


async def closed(ws: WebSocketSession) -> WebSocketDisconnect:
    with pytest.raises(WebSocketDisconnect) as found:
        while True:
            await ws.receive_text(timeout=15)
    return found.value


async def test_a_websocket_replays_then_streams_live_with_the_bodies_of_get_events(
    services: Services,
) -> None:
    async with gateway(services) as (http, creds):
        old = await commit_events(services.database, 3)
        async with aconnect_ws(f"{STREAM}?after={old[0]}", http, headers={**creds}) as ws:
            replayed = await texts(ws, 2)
            await eventually(lambda: services.event_tail.subscriptions == 1, what="live")
            new = await commit_events(services.database, 2)
            live = await texts(ws, 2)
        log = (await http.get("/api/v1/events", headers={**creds})).json()["data"]
    assert [e["seq"] for e in replayed + live] == old[1:] + new
    assert replayed + live == [e for e in log if e["seq"] > old[0]]


async def test_a_websocket_filters_by_type_and_ends_at_its_limit(services: Services) -> None:
    await commit_events(services.database, 2, type_="message.sent")
    wanted = await commit_events(services.database, 1, type_="message.read")
    url = f"{STREAM}?after=0&types=message.read&limit=1"
    async with gateway(services) as (http, creds), aconnect_ws(url, http, headers={**creds}) as ws:
        assert [e["seq"] for e in await texts(ws, 1)] == wanted
        end = await closed(ws)
    assert end.code == 1000
    assert json.loads(end.reason or "") == {"reason": "limit", "resume_after": wanted[0]}


@pytest.mark.parametrize("settings_overrides", [{"event_stream": {"heartbeat_s": 0.05}}])
async def test_a_websocket_gets_heartbeat_frames_while_nothing_happens(
    services: Services,
) -> None:
    async with (
        gateway(services) as (http, creds),
        aconnect_ws(STREAM, http, headers={**creds}) as ws,
    ):
        assert await texts(ws, 2) == [{"type": "heartbeat"}] * 2


async def test_a_slow_websocket_reader_is_closed_with_4008_and_where_to_resume(
    services: Services,
) -> None:
    async with gateway(services) as (http, creds):
        first = await commit_events(services.database, 1)
        async with aconnect_ws(STREAM, http, headers={**creds}) as ws:
            await eventually(lambda: services.event_tail.subscriptions == 1, what="live")
            await commit_events(services.database, 8)  # over max_buffered_events at once
            end = await closed(ws)
    assert end.code == 4008
    assert json.loads(end.reason or "") == {"reason": "slow_reader", "resume_after": first[0]}


async def test_a_websocket_takes_the_credentials_as_query_parameters(services: Services) -> None:
    async with gateway(services) as (http, creds):
        seqs = await commit_events(services.database, 1)
        query = f"client_id=ws@example.com&client_secret={creds['X-WM-CLIENT-SECRET']}"
        async with aconnect_ws(f"{STREAM}?after={seqs[0] - 1}&limit=1&{query}", http) as ws:
            assert [e["seq"] for e in await texts(ws, 1)] == seqs[-1:]


@pytest.mark.parametrize(
    ("query", "with_headers", "code"),
    [
        ("", False, 4401),
        ("client_id=ws@example.com&client_secret=wrong", False, 4474),
        ("types=message.nope", True, 4400),
    ],
)
async def test_a_refused_websocket_is_closed_before_it_is_accepted(
    services: Services, query: str, with_headers: bool, code: int
) -> None:
    async with gateway(services) as (http, creds):
        with pytest.raises(WebSocketDisconnect) as refused:
            headers = {**creds} if with_headers else {}
            async with aconnect_ws(f"{STREAM}?{query}", http, headers=headers):
                pass
    assert refused.value.code == code
    assert refused.value.reason


async def test_a_websocket_of_a_key_without_the_events_scope_is_refused_with_4403(
    services: Services,
) -> None:
    async with gateway(services) as (http, _):
        created = await http.post(
            "/admin/clients",
            json={"client_id": "sender@example.com", "scopes": ["send"]},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        key = {
            "X-WM-CLIENT-ID": "sender@example.com",
            "X-WM-CLIENT-SECRET": created.json()["client_secret"],
        }
        with pytest.raises(WebSocketDisconnect) as refused:
            async with aconnect_ws(f"{STREAM}?after=0", http, headers=key):
                pass
    assert refused.value.code == 4403
    assert "events" in refused.value.reason
