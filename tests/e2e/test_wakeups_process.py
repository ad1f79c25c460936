"""End to end: two `tgw serve` processes on one PostgreSQL database wake each other
(LISTEN/NOTIFY, app/wakeups.py). A message accepted by the standby (the process that does not
hold the instance's session) is sent by the owner at once, not at the owner's next look at the
queue, which is 30 s away here -- also after a restart of the database, and from an `api`
process to a `worker` process."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.e2e.private_postgres import PrivatePostgres
from tests.e2e.test_lease_process import owner
from tests.e2e.test_serve_process import (
    ServeHarness,
    ServerProcess,
    create_client,
    message_status,
    register,
)
from tests.waiting import eventually

FALLBACK_S = 30
# Well below the fallback: only a wake-up from the other process sends this fast.
PROMPT_S = 5.0
PERSON = "34600000001"


async def two_gateways(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> tuple[ServerProcess, ServerProcess]:
    """Two processes on one database: (the owner of instance 1's session, the standby)."""
    harness.write_config(
        database={"url": private_postgres.url, "wakeup_fallback_s": FALLBACK_S},
    )
    first = await harness.start()
    second = await harness.start()
    owners = {
        await owner(first.base_url, harness): first,
        await owner(second.base_url, harness): second,
    }
    assert set(owners) == {"this process", "another process"}, owners
    return owners["this process"], owners["another process"]


async def metric(server: ServerProcess, name: str) -> float:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    found = re.search(rf"^{name} (\S+)$", response.text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


async def listening(*servers: ServerProcess) -> None:
    for server in servers:

        async def connected(server: ServerProcess = server) -> bool:
            return await metric(server, "tgw_wakeup_listener_connected") == 1

        await eventually(connected, f"port {server.port}'s wake-ups to listen", timeout_s=30)


async def sent_within(
    http: httpx.AsyncClient, api: dict[str, str], text: str, limit_s: float
) -> float:
    """Accept a message (on `http`'s process) and time it until it is sent."""
    loop = asyncio.get_running_loop()
    response = await http.post("/api/v1/messages", json={"to": PERSON, "text": text}, headers=api)
    assert response.status_code == 202, response.text
    started = loop.time()
    message_id = response.json()["id"]

    async def sent() -> bool:
        return await message_status(http, api, message_id) == "sent"

    await eventually(sent, f"{text!r} to be sent", timeout_s=limit_s, interval_s=0.02)
    return loop.time() - started


async def test_a_message_accepted_by_the_standby_is_sent_at_once_by_the_owner(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> None:
    holder, standby = await two_gateways(harness, private_postgres)
    await listening(holder, standby)
    received_before = await metric(holder, "tgw_wakeups_received_total")
    async with httpx.AsyncClient(base_url=standby.base_url, timeout=10) as http:
        api = await create_client(http, harness)
        await register(http, harness, PERSON, "Hi")  # the owner's sandbox pump is woken too
        for n in range(3):
            await sent_within(http, api, f"order {n}", PROMPT_S)
    assert await metric(holder, "tgw_wakeups_received_total") > received_before


async def test_after_a_database_restart_the_processes_wake_each_other_again(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> None:
    holder, standby = await two_gateways(harness, private_postgres)
    await listening(holder, standby)
    async with httpx.AsyncClient(base_url=standby.base_url, timeout=10) as http:
        api = await create_client(http, harness)
        await register(http, harness, PERSON, "Hi")
        await asyncio.to_thread(private_postgres.restart)
        await listening(holder, standby)  # both listen connections are open again
        for n in range(3):
            await sent_within(http, api, f"after the restart {n}", PROMPT_S)


async def test_a_message_accepted_by_an_api_process_is_sent_at_once_by_a_worker_process(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> None:
    harness.write_config(database={"url": private_postgres.url, "wakeup_fallback_s": FALLBACK_S})
    harness.serve_args = ["--role", "api"]
    api_process = await harness.start()
    harness.serve_args = ["--role", "worker"]
    worker_process = await harness.start()
    await listening(api_process, worker_process)
    async with httpx.AsyncClient(base_url=api_process.base_url, timeout=10) as http:
        api = await create_client(http, harness)
        await register(http, harness, PERSON, "Hi")
        for n in range(3):
            await sent_within(http, api, f"order {n}", PROMPT_S)
