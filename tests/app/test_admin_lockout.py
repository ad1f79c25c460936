"""Wrong admin tokens (app/lockout.py), the client's address (app/client_address.py) and lasting
console sign-outs (app/console_auth.py), in-process on a real database.

The lockout answers wrong tokens 429 but never refuses the right one; Bearer requests and
console sign-ins share the count; forwarding headers count only from `[server]
trusted_proxies`; a signed-out cookie stays refused by a new process on the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette
from starlette.requests import Request

from app import console_auth
from app.client_address import request_origin
from app.lockout import MAX_FAILURES, WINDOW_S, limit_key
from app.main import create_app
from app.models import ConsoleSignout
from app.services import Services, build_services
from app.settings import ServerSettings
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, make_settings

WRONG = {"Authorization": "Bearer not-the-token"}
PROXY = "10.0.0.2"
BEHIND_PROXY = {"server": {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]}}


@pytest.fixture
def app(services: Services) -> Starlette:
    """One gateway process: its clients below share its memory (the lockout's counts)."""
    return create_app(services)


@asynccontextmanager
async def client_at(app: Starlette, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, every request coming from `host` (the TCP peer's address)."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as client:
        yield client


async def guess(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    response = await http.get("/admin/clients", headers={**WRONG, **(headers or {})})
    return response.status_code


async def lock(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
    for _ in range(MAX_FAILURES):
        assert await guess(http, headers) == 401


# --- the lockout on Bearer requests --------------------------------------------------------


async def test_locked_address_gets_429_for_wrong_tokens_and_200_for_the_right_one(
    app: Starlette,
) -> None:
    async with client_at(app, "198.51.100.7") as http:
        await lock(http)
        locked = await http.get("/admin/clients", headers=WRONG)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_attempts"
        assert 0 < int(locked.headers["retry-after"]) <= WINDOW_S
        assert (await http.get("/admin/clients", headers=ADMIN)).status_code == 200
        assert (await http.post("/admin/session", json={"token": ADMIN_TOKEN})).status_code == 200


async def test_the_lock_ends_when_the_wrong_tokens_age_out_of_the_window(
    app: Starlette, clock: Clock
) -> None:
    async with client_at(app, "198.51.100.7") as http:
        await lock(http)
        clock.advance(WINDOW_S - 1)
        assert await guess(http) == 429
        clock.advance(1)
        assert await guess(http) == 401


async def test_bearer_and_console_sign_in_share_one_count(app: Starlette) -> None:
    async with client_at(app, "198.51.100.7") as http:
        for _ in range(MAX_FAILURES // 2):
            assert await guess(http) == 401
        for _ in range(MAX_FAILURES - MAX_FAILURES // 2):
            wrong = await http.post("/admin/session", json={"token": "guess"})
            assert wrong.status_code == 401
        assert await guess(http) == 429
        assert (await http.post("/admin/session", json={"token": "guess"})).status_code == 429


async def test_requests_without_a_token_are_not_counted(app: Starlette) -> None:
    async with client_at(app, "198.51.100.7") as http:
        for headers in ({}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer "}) * 5:
            response = await http.get("/admin/clients", headers=headers)
            assert response.status_code == 401
            assert "Missing" in response.json()["error"]["message"]
        assert await guess(http) == 401


async def test_another_address_is_not_locked(app: Starlette) -> None:
    async with client_at(app, "198.51.100.7") as locked:
        await lock(locked)
        assert await guess(locked) == 429
    async with client_at(app, "198.51.100.8") as other:
        assert await guess(other) == 401


async def test_ipv6_clients_are_counted_by_their_64_block(app: Starlette) -> None:
    async with client_at(app, "2001:db8:1:2::1") as first:
        await lock(first)
    async with client_at(app, "2001:db8:1:2:ffff::9") as same_block:
        assert await guess(same_block) == 429
    async with client_at(app, "2001:db8:1:3::1") as next_block:
        assert await guess(next_block) == 401


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("unknown", "unknown"),
    ],
)
def test_limit_key(address: str, key: str) -> None:
    assert limit_key(address) == key


# --- whose address counts: forwarding headers ------------------------------------------------


async def test_forged_x_forwarded_for_from_an_untrusted_peer_does_not_change_the_address(
    http: httpx.AsyncClient,
) -> None:
    # The `http` client connects from 127.0.0.1, and no proxy is trusted by default.
    for i in range(MAX_FAILURES):
        assert await guess(http, {"X-Forwarded-For": f"203.0.113.{i}"}) == 401
    assert await guess(http, {"X-Forwarded-For": "203.0.113.99"}) == 429
    assert await guess(http, {"X-Real-IP": "203.0.113.98", "Forwarded": "for=203.0.113.97"}) == 429


@pytest.mark.parametrize("settings_overrides", [BEHIND_PROXY])
async def test_a_trusted_proxy_s_x_forwarded_for_names_the_client(
    app: Starlette,
) -> None:
    async with client_at(app, PROXY) as http:
        # What the client wrote (left) differs each time; the proxies' part (right) is true.
        for i in range(MAX_FAILURES):
            forged = {"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.9, 127.0.0.1"}
            assert await guess(http, forged) == 401
        assert await guess(http, {"X-Forwarded-For": "1.1.1.1, 203.0.113.9"}) == 429
        assert await guess(http, {"X-Forwarded-For": "203.0.113.10"}) == 401
        right = {**ADMIN, "X-Forwarded-For": "203.0.113.9"}
        assert (await http.get("/admin/clients", headers=right)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [BEHIND_PROXY])
async def test_a_trusted_proxy_without_the_header_is_itself_the_client(
    app: Starlette,
) -> None:
    async with client_at(app, PROXY) as http:
        await lock(http)
        assert await guess(http) == 429
        assert await guess(http, {"X-Forwarded-For": "203.0.113.9"}) == 401


@pytest.mark.parametrize("settings_overrides", [BEHIND_PROXY])
async def test_https_from_a_trusted_proxy_makes_the_cookie_secure(app: Starlette) -> None:
    body = {"token": ADMIN_TOKEN}
    for peer, secure in ((PROXY, True), ("198.51.100.7", False)):
        async with client_at(app, peer) as http:
            response = await http.post(
                "/admin/session", json=body, headers={"X-Forwarded-Proto": "https"}
            )
        assert response.status_code == 200, response.text
        flags = [f.strip().lower() for f in response.headers["set-cookie"].split(";")]
        assert ("secure" in flags) is secure, peer


def request(peer: str | None, headers: list[tuple[str, str]]) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": "/admin/clients",
            "query_string": b"",
            "server": ("tgw.test", 80),
            "client": (peer, 40000) if peer is not None else None,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        }
    )


TRUSTED = ["127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48"]


@pytest.mark.parametrize(
    ("peer", "header", "headers", "expected"),
    [
        # Not a trusted peer: its headers are not read at all.
        ("198.51.100.7", "x-forwarded-for", [("X-Forwarded-For", "203.0.113.9")], "198.51.100.7"),
        # Right-most untrusted; ports and brackets as proxies write them.
        ("10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "6.6.6.6, 203.0.113.9")],
         "203.0.113.9"),
        ("10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "203.0.113.9:5555, 10.0.0.7")],
         "203.0.113.9"),
        ("10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "[2001:db8::5]:443")], "2001:db8::5"),
        ("10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "::ffff:203.0.113.9")],
         "203.0.113.9"),
        # Several header lines are one list, in order.
        ("10.0.0.2", "x-forwarded-for",
         [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "10.0.0.8")], "203.0.113.9"),
        # Every hop trusted: the left-most one.
        ("10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "10.0.0.9, 127.0.0.1")], "10.0.0.9"),
        # A garbled hop: the last address a trusted proxy vouched for.
        ("10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "203.0.113.9, nonsense, 10.0.0.5")],
         "10.0.0.5"),
        ("10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "unknown")], "10.0.0.2"),
        # Only the configured header is believed.
        ("10.0.0.2", "x-real-ip", [("X-Forwarded-For", "6.6.6.6"), ("X-Real-IP", "203.0.113.9")],
         "203.0.113.9"),
        ("10.0.0.2", "x-forwarded-for", [("X-Real-IP", "6.6.6.6")], "10.0.0.2"),
        ("10.0.0.2", "x-forwarded-for", [("Forwarded", "for=6.6.6.6")], "10.0.0.2"),
        ("10.0.0.2", "forwarded", [("X-Forwarded-For", "6.6.6.6")], "10.0.0.2"),
        # RFC 7239: quoted IPv6 with a port, several elements, other parameters, obfuscation.
        ("10.0.0.2", "forwarded",
         [("Forwarded", 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.2')],
         "2001:db8:cafe::17"),
        ("10.0.0.2", "forwarded", [("Forwarded", "For=203.0.113.9;Proto=http")], "203.0.113.9"),
        ("10.0.0.2", "forwarded", [("Forwarded", "for=_hidden, for=10.0.0.4")], "10.0.0.4"),
        # IPv6 peers and networks.
        ("2001:db8:ffff:1::2", "x-forwarded-for", [("X-Forwarded-For", "2001:db8:1::1")],
         "2001:db8:1::1"),
        ("2001:db8:fffe::2", "x-forwarded-for", [("X-Forwarded-For", "2001:db8:1::1")],
         "2001:db8:fffe::2"),
        ("::ffff:10.0.0.2", "x-forwarded-for", [("X-Forwarded-For", "203.0.113.9")],
         "203.0.113.9"),
        # No peer address at all.
        (None, "x-forwarded-for", [("X-Forwarded-For", "203.0.113.9")], "unknown"),
    ],
)  # fmt: skip
def test_the_client_address(
    peer: str | None, header: Any, headers: list[tuple[str, str]], expected: str
) -> None:
    server = ServerSettings(trusted_proxies=TRUSTED, client_address_header=header)
    assert request_origin(request(peer, headers), server).address == expected


def test_with_no_trusted_proxies_every_header_is_ignored() -> None:
    headers = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]
    origin = request_origin(request("127.0.0.1", headers), ServerSettings())
    assert (origin.address, origin.scheme) == ("127.0.0.1", "http")


@pytest.mark.parametrize(
    ("header", "headers", "scheme"),
    [
        ("x-forwarded-for", [("X-Forwarded-Proto", "https")], "https"),
        ("x-forwarded-for", [("X-Forwarded-Proto", "HTTPS")], "https"),
        ("x-forwarded-for", [("X-Forwarded-Proto", "https, http")], "http"),
        ("x-forwarded-for", [("X-Forwarded-Proto", "gopher")], "http"),
        ("forwarded", [("Forwarded", "for=203.0.113.9;proto=https")], "https"),
        ("forwarded", [("X-Forwarded-Proto", "https")], "http"),
    ],
)
def test_the_scheme_from_a_trusted_proxy(
    header: Any, headers: list[tuple[str, str]], scheme: str
) -> None:
    server = ServerSettings(trusted_proxies=TRUSTED, client_address_header=header)
    assert request_origin(request("10.0.0.2", headers), server).scheme == scheme


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (["127.0.0.1", "10.1.2.3/8", "::1"], ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]),
        ("127.0.0.1, 10.0.0.0/8", ["127.0.0.1/32", "10.0.0.0/8"]),  # from the environment
        ([], []),
    ],
)
def test_trusted_proxies_setting(value: Any, stored: list[str]) -> None:
    assert ServerSettings(trusted_proxies=value).trusted_proxies == stored


@pytest.mark.parametrize("value", [["proxy.local"], ["10.0.0.0/33"], [10]])
def test_a_bad_trusted_proxies_entry_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="IP address"):
        ServerSettings(trusted_proxies=value)


def test_client_address_header_is_one_of_three() -> None:
    assert ServerSettings(client_address_header="X-Real-IP").client_address_header == "x-real-ip"
    with pytest.raises(ValueError, match="client_address_header"):
        ServerSettings(client_address_header="X-Client-IP")  # type: ignore[arg-type]


# --- signing out lasts -----------------------------------------------------------------------


async def sign_in(http: httpx.AsyncClient) -> tuple[str, str]:
    """(the cookie, its CSRF token)."""
    response = await http.post("/admin/session", json={"token": ADMIN_TOKEN})
    assert response.status_code == 200, response.text
    return http.cookies[console_auth.SESSION_COOKIE], response.json()["csrf_token"]


async def get_with(http: httpx.AsyncClient, cookie: str) -> int:
    http.cookies.clear()
    response = await http.get(
        "/admin/clients", headers={"Cookie": f"{console_auth.SESSION_COOKIE}={cookie}"}
    )
    return response.status_code


def same_database(services: Services, clock: Clock) -> Services:
    """Another gateway (a restart, or a second process) on the services' database."""
    return build_services(
        make_settings(services.settings.database.url), ADMIN_TOKEN, clock=clock, run_workers=False
    )


async def test_a_signed_out_cookie_stays_refused_after_a_restart(
    app: Starlette, services: Services, clock: Clock
) -> None:
    async with client_at(app, "127.0.0.1") as http:
        signed_out, csrf = await sign_in(http)
        ended = await http.delete("/admin/session", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200
        still_in, _ = await sign_in(http)
    restarted = same_database(services, clock)
    try:
        async with client_at(create_app(restarted), "127.0.0.1") as http:
            assert await get_with(http, signed_out) == 401
            assert await get_with(http, still_in) == 200  # the same key: only the sign-out counts
    finally:
        await restarted.close()


async def test_a_sign_out_in_one_process_is_seen_at_once_by_another(
    app: Starlette, services: Services, clock: Clock
) -> None:
    other = same_database(services, clock)
    try:
        async with (
            client_at(app, "127.0.0.1") as here,
            client_at(create_app(other), "127.0.0.1") as there,
        ):
            cookie, csrf = await sign_in(here)
            assert await get_with(there, cookie) == 200
            here.cookies.set(console_auth.SESSION_COOKIE, cookie, domain="tgw.test", path="/admin")
            ended = await here.delete("/admin/session", headers={"X-CSRF-Token": csrf})
            assert ended.status_code == 200
            assert await get_with(there, cookie) == 401
    finally:
        await other.close()


async def stored_sign_outs(services: Services) -> list[str]:
    async with services.database.read() as db:
        rows = await db.execute(select(col(ConsoleSignout.session_id)))
        return sorted(rows.scalars())


async def sign_out_at(services: Services, when: datetime) -> str:
    """A session issued and signed out at `when`; its id."""
    _, session = console_auth.issue(ADMIN_TOKEN, when)
    async with services.database.write() as db:
        await console_auth.record_sign_out(db, session, when)
    return session.session_id


async def test_sign_outs_are_kept_until_their_cookie_expires_then_pruned(
    services: Services, clock: Clock
) -> None:
    first = await sign_out_at(services, clock())
    second = await sign_out_at(services, clock() + timedelta(seconds=1))
    at_expiry = clock() + timedelta(seconds=console_auth.SESSION_TTL_S)
    assert await stored_sign_outs(services) == sorted([first, second])
    third = await sign_out_at(services, at_expiry)
    # The first cookie has expired by itself: its row went; the second has 1 s to go.
    assert await stored_sign_outs(services) == sorted([second, third])


async def test_signing_the_same_session_out_twice_keeps_one_row(
    services: Services, clock: Clock
) -> None:
    _, session = console_auth.issue(ADMIN_TOKEN, clock())
    for _ in range(2):
        async with services.database.write() as db:
            await console_auth.record_sign_out(db, session, clock())
    assert await stored_sign_outs(services) == [session.session_id]
    async with services.database.read() as db:
        assert await console_auth.is_signed_out(db, session.session_id)
        assert not await console_auth.is_signed_out(db, "another-session")
