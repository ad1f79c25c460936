"""End to end: a reader of GET /api/v1/events/stream on real `tgw serve --sandbox` processes.

The reader keeps the last seq it saw. The gateway is killed and started again on the same
database; the reader reconnects with Last-Event-ID (SSE) or `after` (WebSocket) and must have
seen every event of the log exactly once, in order, those committed while it was away too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from tests.e2e.test_serve_process import (
    ServeHarness,
    ServerProcess,
    create_client,
    register,
)
from tests.waiting import eventually

STREAM = "/api/v1/events/stream"
PEOPLE = ["34612345001", "34612345002"]


@dataclass
class Reader:
    """What a stream reader saw: every event body, and the last seq (where it resumes)."""

    headers: dict[str, str]
    bodies: list[dict[str, Any]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.bodies[-1]["seq"] if self.bodies else 0

    async def sse(self, server: ServerProcess) -> None:
        """Read the stream until the connection ends (a kill) or it ends itself."""
        headers = {**self.headers, "Last-Event-ID": str(self.last)}
        with contextlib.suppress(httpx.TransportError):
            async with (
                httpx.AsyncClient(base_url=server.base_url, timeout=None) as http,
                http.stream("GET", STREAM, headers=headers) as response,
            ):
                assert response.status_code == 200, await response.aread()
                event = None
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        body = json.loads(line[6:])
                        if event in ("dropped", "end"):
                            self.ends.append(body)
                        else:
                            self.bodies.append(body)

    async def websocket(self, server: ServerProcess) -> None:
        url = f"ws://127.0.0.1:{server.port}{STREAM}?after={self.last}"
        try:
            async with websockets.connect(url, additional_headers=self.headers) as ws:
                while True:
                    body = json.loads(await ws.recv())
                    if "seq" in body:
                        self.bodies.append(body)
        except websockets.ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.reason:  # None: the server was killed
                self.ends.append(json.loads(closed.rcvd.reason))
                assert closed.rcvd.code == 1012  # service restart
        except OSError:
            pass


async def make_events(http: httpx.AsyncClient, harness: ServeHarness, api: dict[str, str]) -> None:
    """Inbound messages (message.received) and sends (message.sent), through the sandbox."""
    for number in PEOPLE:
        body = {"from": {"number": number, "first_name": "Ana"}, "text": "hello again"}
        response = await http.post(
            "/admin/sandbox/1/inbound", json=body, headers=harness.admin_headers
        )
        assert response.status_code == 200, response.text
        response = await http.post(
            "/api/v1/messages", json={"to": number, "text": "a reply"}, headers=api
        )
        assert response.status_code == 202, response.text


async def the_log(http: httpx.AsyncClient, api: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        after = found[-1]["seq"] if found else 0
        response = await http.get(
            "/api/v1/events", params={"after": after, "limit": 1000}, headers=api
        )
        page = response.json()["data"]
        if not page:
            return found
        found += page


async def caught_up(
    reader: Reader, http: httpx.AsyncClient, api: dict[str, str]
) -> list[dict[str, Any]]:
    """The log, once the reader has seen all of it (the sends' events settle meanwhile)."""

    async def same() -> list[dict[str, Any]] | None:
        log = await the_log(http, api)
        return log if reader.bodies == log else None

    found: list[dict[str, Any]] = await eventually(same, "the reader to have the whole log")
    return found


@contextlib.asynccontextmanager
async def reading(reader: Reader, server: ServerProcess, ws: bool) -> AsyncIterator[None]:
    task = asyncio.create_task(reader.websocket(server) if ws else reader.sse(server))
    try:
        yield
    finally:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 15)


async def reader_across_a_restart_sees_every_event_once(harness: ServeHarness, ws: bool) -> None:
    harness.write_config(sending={"per_second": 0, "per_recipient_interval_s": 0})
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        api = await create_client(http, harness)
        for number in PEOPLE:
            await register(http, harness, number, "Hi")
        reader = Reader(api)
        async with reading(reader, server, ws):
            await make_events(http, harness, api)
            await caught_up(reader, http, api)
            server.kill9()
    restarted = await harness.start()
    async with httpx.AsyncClient(base_url=restarted.base_url, timeout=10.0) as http:
        await make_events(http, harness, api)  # while the reader is away
        async with reading(reader, restarted, ws):
            await make_events(http, harness, api)  # after it is back
            await caught_up(reader, http, api)
            restarted.stop()  # SIGTERM: the stream ends with its reason, not a cut
    assert restarted.proc.returncode in (0, -signal.SIGTERM)
    # The log as it is now (an event may have come after the catch-up, and the shutdown
    # writes its own): the reader has all of it up to where it stopped, each once, in order.
    final = await harness.start()
    async with httpx.AsyncClient(base_url=final.base_url, timeout=10.0) as http:
        log = [e for e in await the_log(http, api) if e["seq"] <= reader.last]
    assert [b["seq"] for b in reader.bodies] == [e["seq"] for e in log]
    assert reader.bodies == log
    assert {e["type"] for e in log} >= {"message.received", "message.sent"}
    assert reader.ends == [{"reason": "shutdown", "resume_after": reader.last}]


async def test_an_sse_reader_resumes_across_a_restart_and_sees_every_event_once(
    harness: ServeHarness,
) -> None:
    await reader_across_a_restart_sees_every_event_once(harness, ws=False)


async def test_a_websocket_reader_resumes_across_a_restart_and_sees_every_event_once(
    harness: ServeHarness,
) -> None:
    await reader_across_a_restart_sees_every_event_once(harness, ws=True)


async def test_a_refused_websocket_handshake_is_an_http_error_with_a_json_body(
    harness: ServeHarness,
) -> None:
    server = await harness.start()
    url = f"ws://127.0.0.1:{server.port}{STREAM}"
    try:
        async with websockets.connect(url):
            raise AssertionError("accepted without credentials")
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code == 401
        assert json.loads(refused.response.body)["error"]["code"] == "missing_credentials"
