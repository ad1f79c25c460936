"""One owner per instance: a second gateway on the same database serves HTTP but leaves the
session alone, and takes over when the owner stops (app/lease.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import app.main
from app.main import create_app, start_instances
from app.services import build_services
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, make_settings


async def view(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/admin/instances/1", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_second_gateway_waits_and_takes_over_when_the_first_stops(
    schema: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.main, "LEASE_RETRY_S", 0.05)
    first = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    second = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    first_tasks = await start_instances(first, workers=False)
    second_tasks = await start_instances(second, workers=False)
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(first)), base_url="http://a"
            ) as http_a,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(second)), base_url="http://b"
            ) as http_b,
        ):
            assert (await view(http_a))["session_owner"] == "this process"
            assert (await view(http_b))["session_owner"] == "another process"
            # The second one did not open the (sandbox) session: it has no update pump.
            assert second.sandboxes[1]._pump is None
            for backend in first.backends.values():
                await backend.stop()
            await first.close()  # the owner stops: its lease is released

            async def taken_over() -> bool:
                return (await view(http_b))["session_owner"] == "this process"

            for _ in range(200):
                if await taken_over():
                    break
                await asyncio.sleep(0.02)
            assert await taken_over()
            assert second.sandboxes[1]._pump is not None
    finally:
        for task in [*first_tasks, *second_tasks]:
            task.cancel()
        await asyncio.gather(*first_tasks, *second_tasks, return_exceptions=True)
        for backend in second.backends.values():
            await backend.stop()
        await second.close()


async def test_only_the_owner_logs_an_instance_in_or_out(schema: str, clock: Clock) -> None:
    first = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    second = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    tasks = [
        *await start_instances(first, workers=False),
        *await start_instances(second, workers=False),
    ]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(second)), base_url="http://b"
        ) as http_b:
            for path, body in (
                ("/logout", None),
                ("/login", {"phone": "4915123456789"}),
                ("/profile", {"first_name": "X"}),
            ):
                method = http_b.put if path == "/profile" else http_b.post
                response = await method(f"/admin/instances/1{path}", json=body, headers=ADMIN)
                assert response.status_code == 409, path
                assert "Another tgw process" in response.json()["error"]["message"]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for svc in (first, second):
            for backend in svc.backends.values():
                await backend.stop()
            await svc.close()
