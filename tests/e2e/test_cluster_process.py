"""End to end: `tgw serve` processes sharing one PostgreSQL database (app/cluster/).

Worker processes hold their fair share of the instances; one killed with kill -9 and one added
under a steady send load move instances between them, and still every accepted message is sent
exactly once and no instance's session is ever open in two processes. Admin operations that
need the session, asked of an `api` process, are answered by the worker that holds it."""

from __future__ import annotations

import asyncio
import contextlib
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


async def look_twice(
    workers: list[ServerProcess], clients: list[httpx.AsyncClient], number: int, headers: Any
) -> list[tuple[int, bool]]:
    """Ask every live worker twice, one after the other, whether it has `number`'s session open.

    One request at a time (`clients[i]` is `workers[i]`'s), so the answers come in the order of
    the list returned: (worker's index, open there). A look that the test's own kill -9 cuts
    short counts as not open: a process dead by then holds nothing. A live one must answer."""
    looks = []
    for _ in range(2):  # (a worker just added has no client yet: it is asked next time)
        for index, (server, client) in enumerate(zip(workers, clients, strict=False)):
            if server.proc.poll() is not None:
                continue
            try:
                response = await client.get(f"/admin/instances/{number}", headers=headers)
            except httpx.TransportError:
                if server.proc.poll() is None:
                    raise
                continue
            assert response.status_code == 200, response.text
            looks.append((index, response.json()["session_owner"] == "this process"))
    return looks


def overlapping(looks: list[tuple[int, bool]]) -> list[str]:
    """The pairs of workers that `looks` shows with the session open at the same moment.

    Workers are asked one after another, so a single pass that finds two holders may only have
    seen a hand-over (the first closed, the second took the lease before it was asked). It is an
    overlap when one worker says "open" at two looks in a row of its own and another says "open"
    between them. (Or: the first closed and opened again within those few milliseconds while the
    second opened and closed; a hand-over takes far longer, the taker polls a free lease.)"""
    found = []
    for i, (first, open_first) in enumerate(looks):
        if not open_first:
            continue
        following = [j for j in range(i + 1, len(looks)) if looks[j][0] == first]
        if not following or not looks[following[0]][1]:
            continue
        between = {w for w, is_open in looks[i + 1 : following[0]] if is_open}
        found += [f"open in worker {first} and worker {other}" for other in sorted(between)]
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
    rounds = 0  # of the watcher's looks at every instance
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
            nonlocal rounds
            async with contextlib.AsyncExitStack() as stack:
                clients: list[httpx.AsyncClient] = []
                while not stop_load.is_set():
                    for server in workers[len(clients) :]:  # one client per worker, kept
                        client = httpx.AsyncClient(base_url=server.base_url, timeout=5)
                        clients.append(await stack.enter_async_context(client))
                    for number in range(1, INSTANCES + 1):
                        looks = await look_twice(workers, clients, number, harness.admin_headers)
                        overlaps.extend(f"instance {number}: {o}" for o in overlapping(looks))
                    rounds += 1
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
        rounds_at_kill = rounds
        killed_at = asyncio.get_running_loop().time()
        survivors = [w for w in workers if w is not victim]

        async def two_hold_everything() -> bool:
            shown = await cluster(http, harness)
            live = {p["id"] for p in shown["processes"] if p["live"] and p["role"] == "worker"}
            return len(live) == WORKERS - 1 and balanced(shown, WORKERS - 1)

        await eventually(two_hold_everything, "the survivors to take over", timeout_s=40)
        print(f"held again {asyncio.get_running_loop().time() - killed_at:.1f} s after the kill")
        workers.append(await start(harness, "worker"))
        rounds_at_join = rounds
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
    print(f"the watcher looked at every instance {rounds} times")
    assert 0 < rounds_at_kill < rounds_at_join < rounds  # it watched before, between, after
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


def test_the_overlap_check_tells_a_hand_over_from_two_holders() -> None:
    """The watcher's verdicts on made-up looks (worker index, open there), in the order asked."""
    one_holder = [(0, True), (1, False), (2, False), (0, True), (1, False), (2, False)]
    assert overlapping(one_holder) == []
    # 0 closed after its first look, 1 opened before its first: a hand-over, seen mid-way
    assert overlapping([(0, True), (1, True), (2, False), (0, False), (1, True), (2, False)]) == []
    assert overlapping([(0, False), (1, True), (2, True), (0, False), (1, False), (2, True)]) == []
    both = [(0, True), (1, True), (2, False), (0, True), (1, True), (2, False)]
    assert "open in worker 0 and worker 1" in overlapping(both)
    late = [(0, False), (1, True), (2, True), (0, False), (1, True), (2, True)]
    assert "open in worker 1 and worker 2" in overlapping(late)
    # a worker killed between its looks (no second look) proves nothing either way
    assert overlapping([(0, True), (1, True), (1, True)]) == []
