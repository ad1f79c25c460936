"""Two gateways on one database share the instances (app/cluster/): the one that joins takes
its fair share over, the one that leaves gives its instances back, and no instance's session
is ever open in both at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.cluster.forward import FORWARDED_BY
from app.cluster.ownership import announce, start_instances
from app.main import create_app
from app.services import Services, build_services
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, make_settings
from tests.waiting import eventually

FOUR = [{"number": n, "backend": "sandbox"} for n in (1, 2, 3, 4)]


def gateway(schema: str, clock: Clock, **cluster: Any) -> Services:
    # A short lease: the balancer looks every half second.
    settings = make_settings(
        schema, telegram={"lease_ttl_s": 3}, instances=FOUR, cluster=cluster or {}
    )
    return build_services(settings, ADMIN_TOKEN, clock=clock, run_workers=False)


def open_sessions(svc: Services) -> set[int]:
    """The instances whose (sandbox) session this gateway has open: its update pump runs."""
    return {n for n, box in svc.telegram.sandboxes.items() if box._pump is not None}


class Gateways:
    def __init__(self) -> None:
        self.running: list[tuple[Services, list[asyncio.Task[None]]]] = []

    async def start(self, svc: Services, *, api: bool = False) -> Services:
        tasks = await (announce(svc) if api else start_instances(svc, workers=False))
        self.running.append((svc, tasks))
        return svc

    async def stop(self, svc: Services) -> None:
        for entry in list(self.running):
            if entry[0] is svc:
                self.running.remove(entry)
                for task in entry[1]:
                    task.cancel()
                await asyncio.gather(*entry[1], return_exceptions=True)
        for backend in svc.telegram.backends.values():
            await backend.stop()
        await svc.close()


@pytest.fixture
async def gateways() -> AsyncIterator[Gateways]:
    found = Gateways()
    yield found
    for svc, _ in list(found.running):
        await found.stop(svc)


@contextlib.asynccontextmanager
async def never_both_open(*gateways: Services) -> AsyncIterator[list[str]]:
    """Watch, every few milliseconds, that no instance's session is open in two gateways."""
    seen: list[str] = []

    async def watch() -> None:
        while True:
            opened = [open_sessions(g) for g in gateways]
            for i, first in enumerate(opened):
                for second in opened[i + 1 :]:
                    if first & second:
                        seen.append(f"open in two gateways at once: {sorted(first & second)}")
            await asyncio.sleep(0.005)

    task = asyncio.create_task(watch())
    try:
        yield seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def slowly(stop: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def slow_stop() -> None:
        await asyncio.sleep(1.0)  # several of the other gateway's looks at the lease
        await stop()

    return slow_stop


async def scrape(svc: Services) -> str:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(svc)), base_url="http://gw"
    ) as http:
        return (await http.get("/metrics")).text


async def cluster(svc: Services) -> dict[str, Any]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(svc)), base_url="http://gw"
    ) as http:
        response = await http.get("/admin/cluster", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_gateway_that_joins_takes_its_fair_share_over(
    schema: str, clock: Clock, gateways: Gateways
) -> None:
    first = await gateways.start(gateway(schema, clock))
    assert open_sessions(first) == {1, 2, 3, 4}  # alone, it holds them all
    # Closing a session takes a while (a Telethon disconnect can): the lease must stay held
    # until it is closed, or the other gateway would open it meanwhile.
    for number in (3, 4):
        box = first.telegram.sandboxes[number]
        box.stop = slowly(box.stop)  # type: ignore[method-assign]
    second = gateway(schema, clock)
    async with never_both_open(first, second) as overlaps:
        await gateways.start(second)
        await eventually(
            lambda: open_sessions(first) == {1, 2} and open_sessions(second) == {3, 4},
            "the highest two instances to move to the gateway that joined",
        )
    assert overlaps == []
    metrics = await scrape(first)
    assert "tgw_cluster_fair_share 2.0" in metrics
    assert "tgw_cluster_sessions 2.0" in metrics
    assert "tgw_cluster_live_workers 2.0" in metrics
    assert "tgw_cluster_handovers_total 2.0" in metrics
    shown = await cluster(first)
    assert shown["live_workers"] == 2
    assert shown["fair_share"] == 2
    assert shown["unowned"] == []
    held = {p["id"]: p["instances"] for p in shown["processes"]}
    assert held == {first.process_id: [1, 2], second.process_id: [3, 4]}
    assert [p["this_process"] for p in shown["processes"]] == [True, False]
    assert {i["number"]: i["holder"] for i in shown["instances"]} == {
        1: first.process_id,
        2: first.process_id,
        3: second.process_id,
        4: second.process_id,
    }


async def test_a_gateway_that_stops_leaves_its_instances_to_the_others(
    schema: str, clock: Clock, gateways: Gateways
) -> None:
    first = await gateways.start(gateway(schema, clock))
    second = await gateways.start(gateway(schema, clock))
    await eventually(lambda: open_sessions(second) == {3, 4}, "the second to take 3 and 4")
    async with never_both_open(first, second) as overlaps:
        await gateways.stop(second)
        await eventually(
            lambda: open_sessions(first) == {1, 2, 3, 4}, "the first to take 3 and 4 back"
        )
    assert overlaps == []
    shown = await cluster(first)
    assert [p["id"] for p in shown["processes"]] == [first.process_id]  # the row went with it


async def test_a_capped_gateway_leaves_the_rest_unowned_until_another_joins(
    schema: str, clock: Clock, gateways: Gateways
) -> None:
    capped = await gateways.start(gateway(schema, clock, max_sessions=1))
    assert open_sessions(capped) == {1}
    assert (await cluster(capped))["unowned"] == [2, 3, 4]
    other = await gateways.start(gateway(schema, clock))
    await eventually(lambda: open_sessions(other) == {2, 3, 4}, "the other to take the rest")
    assert open_sessions(capped) == {1}
    assert (await cluster(capped))["unowned"] == []


async def test_an_api_gateway_holds_no_session_and_is_listed(
    schema: str, clock: Clock, gateways: Gateways
) -> None:
    worker = await gateways.start(gateway(schema, clock))
    api = await gateways.start(gateway(schema, clock, role="api"), api=True)
    assert open_sessions(api) == set()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(api)), base_url="http://api"
    ) as http:
        instance = (await http.get("/admin/instances/1", headers=ADMIN)).json()
        # Owner-only operations are refused here rather than run on a session not open.
        logout = await http.post("/admin/instances/1/logout", headers=ADMIN)
    assert instance["session_owner"] == "another process"
    assert logout.status_code == 409, logout.text
    shown = await cluster(api)
    roles = {p["id"]: (p["role"], p["instances"]) for p in shown["processes"]}
    assert roles == {worker.process_id: ("all", [1, 2, 3, 4]), api.process_id: ("api", [])}
    assert shown["live_workers"] == 1
    assert shown["fair_share"] == 4


async def test_a_session_operation_nobody_can_answer_is_refused_saying_why(
    schema: str, clock: Clock, gateways: Gateways
) -> None:
    api = await gateways.start(gateway(schema, clock, role="api"), api=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(api)), base_url="http://api"
    ) as http:
        alone = await http.post("/admin/instances/1/logout", headers=ADMIN)
        await gateways.start(gateway(schema, clock))  # now a worker holds every instance
        forwarded_once = await http.post(
            "/admin/instances/1/logout", headers={**ADMIN, FORWARDED_BY: "another-process"}
        )
    assert alone.status_code == 409
    assert "No tgw process holds instance 1's Telegram session" in alone.json()["error"]["message"]
    # A request another process passed on is never passed on again (the lease moved).
    assert forwarded_once.status_code == 409
    assert "Another tgw process" in forwarded_once.json()["error"]["message"]
