"""End to end: the admin token's lockout and the console's sign-out with the real `tgw serve`.

In-process tests cannot see what the HTTP server itself does with forwarding headers: uvicorn
believes X-Forwarded-For from any loopback peer unless told not to. These run the real process
and talk to it over TCP from 127.0.0.1.
"""

from __future__ import annotations

import httpx

from app.console_auth import SESSION_COOKIE
from app.lockout import MAX_FAILURES
from tests.e2e.test_serve_process import ServeHarness


async def guess(http: httpx.AsyncClient, forwarded_for: str) -> int:
    response = await http.get(
        "/admin/clients",
        headers={"Authorization": "Bearer wrong", "X-Forwarded-For": forwarded_for},
    )
    return response.status_code


async def test_forged_x_forwarded_for_from_loopback_is_not_believed(
    harness: ServeHarness,
) -> None:
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        for i in range(MAX_FAILURES):
            assert await guess(http, f"203.0.113.{i}") == 401
        assert await guess(http, "203.0.113.99") == 429  # all counted on 127.0.0.1
        right = await http.get("/admin/clients", headers=harness.admin_headers)
        assert right.status_code == 200


async def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(
    harness: ServeHarness,
) -> None:
    harness.write_config(server={"trusted_proxies": ["127.0.0.1"]})
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        for _ in range(MAX_FAILURES):
            assert await guess(http, "203.0.113.9") == 401
        assert await guess(http, "203.0.113.9") == 429
        assert await guess(http, "203.0.113.10") == 401


async def test_a_signed_out_cookie_is_refused_after_a_restart(harness: ServeHarness) -> None:
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        signed_in = await http.post("/admin/session", json={"token": harness.admin_token})
        assert signed_in.status_code == 200, signed_in.text
        cookie = http.cookies[SESSION_COOKIE]
        csrf = signed_in.json()["csrf_token"]
        ended = await http.delete("/admin/session", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200
    server.stop()
    again = await harness.start()
    async with httpx.AsyncClient(base_url=again.base_url, timeout=10.0) as http:
        replayed = await http.get(
            "/admin/clients", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
        )
        assert replayed.status_code == 401
