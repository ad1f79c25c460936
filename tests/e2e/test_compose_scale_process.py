"""End to end: the processes deploy/compose.scale.yaml describes, run for real on this machine.

Its api and worker services' commands and environment are read from the compose file; each
runs as `python -m app <command> --sandbox` on a fresh PostgreSQL schema (the compose file's
database URL points at its own `postgres` service: that one value is replaced), all four
started together as Compose would. A round-robin TCP proxy (tests/e2e/round_robin.py) stands in
for nginx in front of the api services only, as deploy/nginx.conf does. Through that one port: a
message is sent exactly once, and GET /admin/cluster shows 2 api and 2 worker processes."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_URL, empty_database
from tests.deploy.manifests import compose_services, nginx_upstream_servers, role_of
from tests.e2e.round_robin import RoundRobinProxy
from tests.e2e.test_serve_process import (
    ServeHarness,
    ServerProcess,
    child_env,
    create_client,
    free_port,
    message_status,
    register,
    sent_log,
    wait_healthy,
)
from tests.waiting import eventually

pytestmark = pytest.mark.skipif(
    PG_URL is None, reason="TEST_DATABASE_URL is not set: the compose deployment needs PostgreSQL"
)

PERSON = "34600000077"
# What .env holds for Compose (deploy/compose.scale.yaml's header).
DOTENV = {
    "TGW_ADMIN_TOKEN": "compose-admin-token-" + uuid.uuid4().hex,
    "TGW_SECRET_KEY": "compose-secret-key-" + uuid.uuid4().hex,
    "POSTGRES_PASSWORD": "not-used-here",
}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::\?[^}]*)?\}")


def interpolate(value: str) -> str:
    """Compose's ${NAME} and ${NAME:?message}, from DOTENV (a missing one fails the test)."""
    return INTERPOLATION.sub(lambda found: DOTENV[found.group(1)], value)


@pytest.fixture
async def database() -> AsyncIterator[str]:
    assert PG_URL is not None
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path=t_{uuid.uuid4().hex[:12]}"
    async with empty_database(url):
        yield url


def spawn_service(
    harness: ServeHarness, name: str, service: dict[str, Any], database: str
) -> ServerProcess:
    """One compose service as a local process: its command and environment, on a free port."""
    environment = {key: interpolate(str(value)) for key, value in service["environment"].items()}
    assert environment["TGW_DATABASE__URL"].endswith("@postgres:5432/tgw")
    environment["TGW_DATABASE__URL"] = database
    folder = harness.root / name  # its working folder: nothing must be written there
    folder.mkdir()
    port = free_port()
    log_path = harness.root / f"{name}.log"
    log_file = log_path.open("wb")
    command = [
        sys.executable, "-m", "app", *service["command"],
        "--sandbox", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    try:
        proc = subprocess.Popen(
            command,
            cwd=folder,
            env={**child_env(), **environment},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    except BaseException:
        log_file.close()
        raise
    server = ServerProcess(proc, port, log_path, log_file)
    harness.processes.append(server)
    return server


async def start_deployment(
    harness: ServeHarness, database: str
) -> tuple[dict[str, ServerProcess], RoundRobinProxy]:
    tgw = {name: s for name, s in compose_services().items() if role_of(s) is not None}
    # All at once, as `docker compose up` starts them: the migrations take turns.
    servers = {name: spawn_service(harness, name, s, database) for name, s in tgw.items()}
    for name, server in servers.items():
        assert await wait_healthy(server), f"{name} did not start:\n{server.log_tail()}"
    upstream = [servers[entry.split(":")[0]].port for entry in nginx_upstream_servers()]
    proxy = RoundRobinProxy(upstream)
    await proxy.start()
    return servers, proxy


async def cluster(proxy: RoundRobinProxy, harness: ServeHarness) -> dict[str, Any]:
    # A new connection each time: the proxy chooses the next api process per connection.
    async with httpx.AsyncClient(base_url=proxy.base_url, timeout=10) as http:
        response = await http.get("/admin/cluster", headers=harness.admin_headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_two_api_and_two_worker_processes_behind_one_port_send_a_message_once(
    tmp_path: Path, database: str
) -> None:
    harness = ServeHarness(tmp_path, admin_token=DOTENV["TGW_ADMIN_TOKEN"])
    proxy: RoundRobinProxy | None = None
    try:
        servers, proxy = await start_deployment(harness, database)

        async def settled() -> dict[str, Any] | None:
            found = await cluster(proxy, harness)  # type: ignore[arg-type]
            held = [i["holder"] for i in found["instances"]]
            live = [p for p in found["processes"] if p["live"]]
            return found if len(live) == 4 and None not in held else None

        state = await eventually(settled, "4 live processes and instance 1 held", timeout_s=30)
        roles = sorted(p["role"] for p in state["processes"])
        assert roles == ["api", "api", "worker", "worker"]
        assert state["live_workers"] == 2
        workers = {p["id"] for p in state["processes"] if p["role"] == "worker"}
        api_ids = {p["id"] for p in state["processes"] if p["role"] == "api"}
        assert state["instances"][0]["holder"] in workers
        assert {p["address"] for p in state["processes"]} == {
            f"http://{name}:8080" for name in servers
        }

        async with httpx.AsyncClient(base_url=proxy.base_url, timeout=10) as http:
            api = await create_client(http, harness)
            await register(http, harness, PERSON, "Hi")
            response = await http.post(
                "/api/v1/messages", json={"to": PERSON, "text": "Order 77 shipped"}, headers=api
            )
            assert response.status_code == 202, response.text
            message_id = response.json()["id"]

            async def sent() -> bool:
                return await message_status(http, api, message_id) == "sent"

            await eventually(sent, "the message to be sent", timeout_s=15)
            await asyncio.sleep(1)  # a second send, were there one, would be in the log by now
            rows = await sent_log(http, harness, PERSON)
        assert [r["text"] for r in rows if r.get("text") == "Order 77 shipped"] == [
            "Order 77 shipped"
        ]

        # The one port reaches both api processes, and never a worker.
        answered = {(await cluster(proxy, harness))["this_process"] for _ in range(4)}
        assert answered == api_ids
        assert set(proxy.connections) == set(proxy.backends) and len(proxy.backends) == 2

        # The shared secrets came from the environment: no process made a key of its own.
        for name in servers:
            assert sorted(p.name for p in (tmp_path / name).iterdir()) == [], name
    finally:
        if proxy is not None:
            await proxy.stop()
        harness.stop_all()
