"""End to end: `tgw serve` processes sharing one PostgreSQL database (app/cluster/).

Worker processes hold their fair share of the instances; one killed with kill -9 and one added
under a steady send load move instances between them, and still every accepted message is sent
exactly once and no instance's session is ever open in two processes. Admin operations that
need the session, asked of an `api` process, are answered by the worker that holds it."""

from __future__ import annotations

import asyncio
import math
import os
from collections import Counter
from typing import Any

import httpx

from tests.e2e.private_postgres import PrivatePostgres
from tests.e2e.test_serve_process import ServeHarness, ServerProcess, create_client, wait_healthy
from tests.waiting import eventually

# The deployment under test; TGW_CLUSTER_TEST=40x4 runs the bigger check by hand (40 instances
# over 4 workers) with the same assertions.
INSTANCES, WORKERS = (int(n) for n in os.environ.get("TGW_CLUSTER_TEST", "6x3").split("x"))
PERSON = "34600000077"
LEASE_TTL_S = 4  # a killed worker's instances are free again after about this long


def configure(harness: ServeHarness, database_url: str) -> None:
    lines = [
        "[database]",
        f'url = "{database_url}"',
        "[security]",
        f'admin_token = "{harness.admin_token}"',
        'secret_key = "cluster-test-secret-key-0123456789abcdef"',
        "[telegram]",
        f"lease_ttl_s = {LEASE_TTL_S}",
        "[sending]",
        "per_second = 0",
        "per_recipient_interval_s = 0",
        "[limits]",
        "messages_per_day = 100000",
    ]
    for number in range(1, INSTANCES + 1):
        lines += ["[[instances]]", f"number = {number}", 'backend = "sandbox"']
    harness.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def start(harness: ServeHarness, role: str) -> ServerProcess:
    harness.serve_args = ["--role", role]
    return await harness.start()


async def cluster(http: httpx.AsyncClient, harness: ServeHarness) -> dict[str, Any]:
    response = await http.get("/admin/cluster", headers=harness.admin_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def holders(server: ServerProcess, harness: ServeHarness) -> set[int]:
    """The instances whose session `server` says it has open (its own, local view)."""
    found = set()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        for number in range(1, INSTANCES + 1):
            response = await http.get(f"/admin/instances/{number}", headers=harness.admin_headers)
            if response.status_code == 200 and response.json()["session_owner"] == "this process":
                found.add(number)
    return found


def balanced(shown: dict[str, Any], workers: int) -> bool:
    live = [p for p in shown["processes"] if p["live"] and p["role"] == "worker"]
    share = math.ceil(INSTANCES / workers)
    return (
        len(live) == workers
        and shown["unowned"] == []
        and all(len(p["instances"]) <= share for p in live)
    )


async def test_workers_killed_and_added_under_load_lose_nothing_and_send_once(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> None:
    configure(harness, private_postgres.url)
    api_process = await start(harness, "api")
    workers = [await start(harness, "worker") for _ in range(WORKERS)]
    overlaps: list[str] = []
    accepted: dict[str, int] = {}  # text -> instance
    stop_load = asyncio.Event()

    async with httpx.AsyncClient(base_url=api_process.base_url, timeout=15) as http:
        await eventually(lambda: cluster(http, harness), "the cluster view", timeout_s=10)

        async def all_balanced() -> bool:
            return balanced(await cluster(http, harness), WORKERS)

        await eventually(all_balanced, "every worker with its fair share", timeout_s=60)
        api = await create_client(http, harness)
        for number in range(1, INSTANCES + 1):  # the person says Hi on every number
            body = {"from": {"number": PERSON, "first_name": "Ana"}, "text": "Hi"}
            response = await http.post(
                f"/admin/sandbox/{number}/inbound", json=body, headers=harness.admin_headers
            )
            assert response.status_code == 200, response.text

        async def watch() -> None:
            """No instance's session open in two live processes at any look."""
            while not stop_load.is_set():
                seen: Counter[int] = Counter()
                for server in workers:
                    if server.proc.poll() is None:
                        seen.update(await holders(server, harness))
                overlaps.extend(f"instance {n} open in {c}" for n, c in seen.items() if c > 1)
                await asyncio.sleep(0.2)

        async def load() -> None:
            """A steady send load over every instance, through the api process."""
            n = 0
            while not stop_load.is_set():
                number = n % INSTANCES + 1
                text = f"load-{n}"
                response = await http.post(
                    f"/v3/telegram/single/text/message/{number}",
                    json={"number": PERSON, "message": text},
                    headers=api,
                )
                if response.status_code == 472:  # the Hi of that number is not in yet
                    await asyncio.sleep(0.05)
                    continue
                assert response.status_code == 200, response.text
                accepted[text] = number
                n += 1
                await asyncio.sleep(0.02)

        watcher, loader = asyncio.create_task(watch()), asyncio.create_task(load())
        await asyncio.sleep(2)
        victim = workers[0]
        assert await holders(victim, harness)  # it holds instances: they must move
        victim.kill9()
        killed_at = asyncio.get_running_loop().time()
        survivors = [w for w in workers if w is not victim]

        async def two_hold_everything() -> bool:
            shown = await cluster(http, harness)
            live = {p["id"] for p in shown["processes"] if p["live"] and p["role"] == "worker"}
            return len(live) == WORKERS - 1 and balanced(shown, WORKERS - 1)

        await eventually(two_hold_everything, "the survivors to take over", timeout_s=40)
        print(f"held again {asyncio.get_running_loop().time() - killed_at:.1f} s after the kill")
        workers.append(await start(harness, "worker"))
        await eventually(all_balanced, "the new worker to take its share", timeout_s=60)
        await asyncio.sleep(2)
        stop_load.set()
        await asyncio.gather(watcher, loader)

        async def everything_sent() -> Counter[str] | None:
            counts: Counter[str] = Counter()
            for number in range(1, INSTANCES + 1):
                response = await http.get(
                    f"/admin/sandbox/{number}/sent",
                    params={"number": PERSON, "limit": 1000},
                    headers=harness.admin_headers,
                )
                assert response.status_code == 200, response.text
                counts.update(
                    r["text"] for r in response.json()["data"] if r["text"].startswith("load-")
                )
            return counts if set(accepted) <= set(counts) else None

        counts = await eventually(everything_sent, "every accepted message", timeout_s=60)
    print(f"{len(accepted)} messages accepted under the load, each sent once")
    assert len(accepted) > 50, len(accepted)
    assert {t: c for t, c in counts.items() if c != 1} == {}
    assert set(counts) == set(accepted)
    assert overlaps == []
    assert len(survivors) == WORKERS - 1


async def test_session_operations_asked_of_an_api_process_are_answered_by_the_holder(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> None:
    configure(harness, private_postgres.url)
    api_process = await start(harness, "api")
    await start(harness, "worker")
    admin = harness.admin_headers
    async with httpx.AsyncClient(base_url=api_process.base_url, timeout=30) as http:

        async def held() -> bool:
            return (await cluster(http, harness))["unowned"] == []

        await eventually(held, "the worker to hold every instance", timeout_s=30)
        logout = await http.post("/admin/instances/2/logout", headers=admin)
        assert logout.status_code == 200, logout.text
        login = await http.post(
            "/admin/instances/2/login", json={"phone": "4915100000002"}, headers=admin
        )
        assert login.status_code == 200, login.text
        assert login.json()["step"] == "code_sent"
        state = await http.get("/admin/instances/2/login", headers=admin)  # kept by the holder
        assert state.json()["step"] == "code_sent", state.text
        code = await http.post(
            "/admin/instances/2/login/code", json={"code": "12345"}, headers=admin
        )
        assert code.status_code == 200, code.text
        assert code.json()["step"] == "ready"
        shown = (await http.get("/admin/instances/2", headers=admin)).json()
        assert shown["status"] == "ready"
        assert shown["session_owner"] == "another process"
        # A wrong admin token is refused by the api process itself, never passed on.
        wrong = await http.post(
            "/admin/instances/2/logout", headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401


async def test_processes_started_at_once_on_an_empty_database_all_come_up_and_share(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> None:
    configure(harness, private_postgres.url)
    harness.serve_args = ["--role", "worker"]
    # Spawned together: they migrate, create the instances' rows and register at once.
    started = [harness.spawn() for _ in range(3)]
    healthy = await asyncio.gather(*(wait_healthy(server) for server in started))
    assert healthy == [True, True, True], [s.log_tail() for s in started]
    async with httpx.AsyncClient(base_url=started[0].base_url, timeout=10) as http:

        async def shared() -> bool:
            return balanced(await cluster(http, harness), 3)

        await eventually(shared, "three workers with two instances each", timeout_s=40)
