"""A client's operations that need the Telegram session (reachability checks, history
backfills), asked of a gateway process that does not hold it, are passed to the one that does
(app/cluster/forward.py): only the holder talks to Telegram. The holder runs a real HTTP
server here (the request goes over TCP to its advertised address); the api gateway is driven
in-process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from app.main import create_app
from app.services import Services
from tests.app.cluster.test_handover import Gateways, gateway, gateways  # noqa: F401 (fixture)
from tests.conftest import ADMIN, Clock
from tests.waiting import eventually

ANA, BEA = "34600000001", "34600000002"


@contextlib.asynccontextmanager
async def served(svc: Services, sock: socket.socket) -> AsyncIterator[None]:
    """`svc`'s HTTP surface on a real server listening on `sock` (its lifespan is the test's)."""
    server = uvicorn.Server(uvicorn.Config(create_app(svc), lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started, "the holder's HTTP server to start")
    try:
        yield
    finally:
        server.should_exit = True
        await task


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def spy(svc: Services, method: str) -> list[Any]:
    """The calls that `svc`'s sandbox of instance 1 gets to `method` (Telegram's side)."""
    box = svc.telegram.sandboxes[1]
    real = getattr(box, method)
    calls: list[Any] = []

    async def recorded(*args: Any) -> Any:
        calls.append(args)
        return await real(*args)

    setattr(box, method, recorded)
    return calls


def in_process(svc: Services) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(svc)), base_url="http://gw"
    )


async def ready_api_gateway(http: httpx.AsyncClient, holder: Services) -> dict[str, str]:
    """A client of the api gateway (`http`), and Ana and Bea registered with the holder (they
    say Hi through its sandbox controls: its update pump hears it at once) and Premium-only."""
    response = await http.post(
        "/admin/clients", json={"client_id": "ops@example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    secret = response.json()["client_secret"]
    client = {"X-WM-CLIENT-ID": "ops@example.com", "X-WM-CLIENT-SECRET": secret}
    async with in_process(holder) as controls:
        for number in (ANA, BEA):
            said = {"from": {"number": number, "first_name": "Test"}, "text": "Hi"}
            response = await controls.post("/admin/sandbox/1/inbound", json=said, headers=ADMIN)
            assert response.status_code == 200, response.text
            people = {"number": number, "requires": "premium"}
            response = await controls.post("/admin/sandbox/1/people", json=people, headers=ADMIN)
            assert response.status_code == 200, response.text

    async def registered() -> bool:
        response = await http.get(
            f"/api/v1/conversations/{BEA}/messages", params={"instance": 1}, headers=client
        )
        return response.status_code == 200

    await eventually(registered, "the holder to register both people")
    return client


async def test_reachability_and_backfill_asked_of_an_api_gateway_are_answered_by_the_holder(
    schema: str,
    clock: Clock,
    gateways: Gateways,  # noqa: F811 (the fixture)
) -> None:
    sock = listening_socket()
    holder = gateway(schema, clock, advertise_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    await gateways.start(holder)
    api = await gateways.start(gateway(schema, clock, role="api"), api=True)
    asked_holder, asked_api = spy(holder, "reachability"), spy(api, "reachability")
    paged_holder, paged_api = spy(holder, "history"), spy(api, "history")
    async with (
        served(holder, sock),
        in_process(api) as http,
    ):
        client = await ready_api_gateway(http, holder)
        one = await http.get(
            f"/api/v1/recipients/{ANA}/reachability", params={"instance": 1}, headers=client
        )
        many = await http.post(  # the body, read by the api gateway, goes along
            "/api/v1/recipients/reachability",
            json={"instance": 1, "numbers": [BEA, "34600000009"]},
            headers=client,
        )
        backfill = await http.post(
            f"/api/v1/conversations/{ANA}/backfill", params={"instance": 1}, headers=client
        )
    assert one.status_code == 200, one.text
    assert (one.json()["reachability"], one.json()["source"]) == ("premium_required", "telegram")
    assert many.status_code == 200, many.text
    assert [(a["number"], a["reachability"], a["source"]) for a in many.json()["data"]] == [
        (BEA, "premium_required", "telegram"),
        ("34600000009", "unregistered", "stored"),
    ]
    assert backfill.status_code == 200, backfill.text
    assert backfill.json()["scanned"] >= 1  # Ana's Hi, the registration reply
    assert (len(asked_holder), len(paged_holder)) == (2, 1)
    assert (asked_api, paged_api) == ([], [])  # the api gateway never talked to Telegram


async def test_with_the_holder_out_of_reach_reachability_answers_what_is_stored(
    schema: str,
    clock: Clock,
    gateways: Gateways,  # noqa: F811 (the fixture)
) -> None:
    sock = listening_socket()  # bound, never listening: connections to it are refused
    holder = gateway(schema, clock, advertise_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    await gateways.start(holder)
    api = await gateways.start(gateway(schema, clock, role="api"), api=True)
    asked_api, paged_api = spy(api, "reachability"), spy(api, "history")
    async with in_process(api) as http:
        client = await ready_api_gateway(http, holder)
        one = await http.get(
            f"/api/v1/recipients/{ANA}/reachability", params={"instance": 1}, headers=client
        )
        backfill = await http.post(
            f"/api/v1/conversations/{ANA}/backfill", params={"instance": 1}, headers=client
        )
    sock.close()
    assert one.status_code == 200, one.text
    answer = one.json()
    assert (answer["reachability"], answer["source"]) == ("unknown", "stored")
    assert "no gateway process holding this instance's session could be reached" in answer["detail"]
    assert backfill.status_code == 409, backfill.text
    message = backfill.json()["error"]["message"]
    assert "Another tgw process has instance 1's Telegram session open" in message
    assert "admin" not in message  # a client cannot use the admin API
    assert (asked_api, paged_api) == ([], [])
