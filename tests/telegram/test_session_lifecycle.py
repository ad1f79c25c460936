"""The session's life through the admin API, against the fake MTProto server: a logout at any
moment (while the new session is opening, right after a login, after a QR login) ends
`logged_out` at Telegram and here, a new login works at once after it, a refused auth.logOut
still closes and forgets the session, and `ready` means usable. Interleavings are forced with
the fake's held answers (`hold_next`), not with sleeps."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.models import Event, TelegramSession
from app.services import Services
from tests.conftest import ADMIN, Clock
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.fake_mtproto.world import FakeUser
from tests.telegram.test_telethon_backend import (
    GATEWAY_PHONE,
    background_loads,
    gateway,
    instance_row,
)
from tests.waiting import eventually


async def post(http: httpx.AsyncClient, path: str, body: Any = None) -> httpx.Response:
    return await http.post(f"/admin/instances/1{path}", json=body, headers=ADMIN)


async def status_events(services: Services) -> list[dict[str, Any]]:
    async with services.database.read() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == "instance.status").order_by(Event.seq)
        )
        return [dict(json.loads(row.payload)["data"]) for row in rows]


async def stored_session(services: Services) -> bool:
    async with services.database.read() as session:
        return await session.get(TelegramSession, 1) is not None


def live_connections(fake: FakeTelegram, account: FakeUser, keys: set[int]) -> int:
    return sum(1 for c in fake.connection_log if c.key_ids & keys and not c.closed)


async def code_login(http: httpx.AsyncClient, fake: FakeTelegram) -> httpx.Response:
    started = await post(http, "/login", {"phone": GATEWAY_PHONE})
    assert started.status_code == 200, started.text
    return await post(http, "/login/code", {"code": fake.login_code})


async def assert_logged_out_everywhere(
    services: Services, fake: FakeTelegram, account: FakeUser, keys: set[int]
) -> None:
    assert fake.authorized_keys(account) == []  # Telegram holds no session of ours
    assert await services.telegram.backends[1].me() is None
    assert not await stored_session(services)
    assert (await instance_row(services)).status == "logged_out"
    await connections_closed(fake, account, keys)


async def connections_closed(fake: FakeTelegram, account: FakeUser, keys: set[int]) -> None:
    async def closed() -> bool:
        return live_connections(fake, account, keys) == 0

    await eventually(closed, "every connection with the old key to close")


async def assert_no_false_alarms(services: Services) -> None:
    for data in await status_events(services):
        assert data["status"] != "revoked", data
        assert "reconnecting" not in (data.get("detail") or ""), data


async def test_a_logout_while_the_new_session_opens_wins_and_a_new_login_works_at_once(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        # The new session's getMe (once connected) is held: the login's last step is still
        # opening it when the logout comes.
        started = await post(http, "/login", {"phone": GATEWAY_PHONE})
        assert started.status_code == 200, started.text
        opening = fake.hold_next("GetUsersRequest", new_connections=True)
        login = asyncio.create_task(post(http, "/login/code", {"code": fake.login_code}))
        await asyncio.wait_for(opening.arrived.wait(), 15)
        keys = set(fake.authorized_keys(account))
        assert keys
        logout = await post(http, "/logout")
        assert logout.status_code == 200, logout.text
        opening.release()
        assert (await login).status_code == 200
        await assert_logged_out_everywhere(services, fake, account, keys)
        again = await post(http, "/login", {"phone": GATEWAY_PHONE})
        assert again.status_code == 200, again.text  # no 409 already_logged_in
        assert again.json()["step"] == "code_sent"
        assert (await instance_row(services)).status == "awaiting_code"
        await assert_no_false_alarms(services)


async def test_a_logout_right_after_a_login_ends_logged_out_at_telegram_and_here(
    schema: str, clock: Clock, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        done = await code_login(http, fake)
        assert done.json()["step"] == "ready"
        keys = set(fake.authorized_keys(account))
        loads = background_loads(services, monkeypatch)
        logout = await post(http, "/logout")
        assert logout.status_code == 200, logout.text
        await assert_logged_out_everywhere(services, fake, account, keys)
        # Nothing comes back to life afterwards (no reconnect with the old key): once the
        # backend has found no stored session, it only waits for a login.
        await eventually(lambda: None in loads, "the backend to find no stored session")
        assert (await instance_row(services)).status == "logged_out"
        view = (await http.get("/admin/instances/1", headers=ADMIN)).json()
        assert view["session_state"] == "logged_out"
        again = await code_login(http, fake)
        assert again.json()["step"] == "ready", again.text
        assert (await instance_row(services)).status == "ready"
        view = (await http.get("/admin/instances/1", headers=ADMIN)).json()
        assert view["session_state"] == "ready"
        await assert_no_false_alarms(services)


async def test_an_admin_call_right_after_ready_succeeds(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        done = await code_login(http, fake)
        assert done.json()["step"] == "ready"
        profile = await http.put(
            "/admin/instances/1/profile", json={"first_name": "Acme"}, headers=ADMIN
        )
        assert profile.status_code == 200, profile.text
        assert services.telegram.backends[1].connected


async def test_a_refused_auth_logout_still_closes_and_forgets_the_session_and_says_so(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        assert (await code_login(http, fake)).json()["step"] == "ready"
        keys = set(fake.authorized_keys(account))
        fake.fail_next("LogOutRequest", "INTERNAL_SERVER_ERROR", 500)
        logout = await post(http, "/logout")
        assert logout.status_code == 200, logout.text
        assert await services.telegram.backends[1].me() is None
        assert not await stored_session(services)
        row = await instance_row(services)
        assert row.status == "logged_out"
        assert row.status_detail is not None and "did not confirm" in row.status_detail
        last = (await status_events(services))[-1]
        assert last["status"] == "logged_out" and "did not confirm" in last["detail"]
        await connections_closed(fake, account, keys)
        # The supervisor looks for a new session again: a new login is taken up.
        again = await code_login(http, fake)
        assert again.json()["step"] == "ready", again.text
        assert services.telegram.backends[1].connected


async def test_a_logout_after_a_qr_login_is_never_reported_revoked(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        for _ in range(3):
            services.accounts.onboarding.qr_round_s = 0.5
            started = await post(http, "/login/qr")
            assert started.status_code == 200, started.text
            fake.scan_qr(account)

            async def ready() -> bool:
                return (await instance_row(services)).status == "ready"

            await eventually(ready, "the scan to log the number in")
            keys = set(fake.authorized_keys(account))
            assert (await post(http, "/logout")).status_code == 200
            await assert_logged_out_everywhere(services, fake, account, keys)
        await assert_no_false_alarms(services)


async def test_a_logout_during_the_catch_up_after_a_login_ends_logged_out(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        started = await post(http, "/login", {"phone": GATEWAY_PHONE})
        assert started.status_code == 200, started.text
        # The new session's getDifference (its catch-up) is held.
        catching_up = fake.hold_next("GetDifferenceRequest", new_connections=True)
        done = await post(http, "/login/code", {"code": fake.login_code})
        assert done.json()["step"] == "ready"
        await asyncio.wait_for(catching_up.arrived.wait(), 15)
        keys = set(fake.authorized_keys(account))
        logout = await post(http, "/logout")
        assert logout.status_code == 200, logout.text
        catching_up.release()
        await assert_logged_out_everywhere(services, fake, account, keys)
        again = await post(http, "/login", {"phone": GATEWAY_PHONE})
        assert again.status_code == 200, again.text
        await assert_no_false_alarms(services)


async def test_a_qr_scan_that_comes_as_the_token_is_renewed_logs_the_number_in(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        services.accounts.onboarding.qr_round_s = 0.3
        # The first export makes the token; the renewal after it is held until the scan.
        renewal = fake.hold_next("ExportLoginTokenRequest", skip=1)
        started = await post(http, "/login/qr")
        assert started.status_code == 200, started.text
        await asyncio.wait_for(renewal.arrived.wait(), 15)
        fake.scan_qr(account)
        renewal.release()

        async def ready() -> bool:
            return (await instance_row(services)).status == "ready"

        await eventually(ready, "the scan to log the number in")
        state = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
        assert (state["step"], state["method"]) == ("ready", "qr")
        await assert_no_false_alarms(services)


async def test_every_login_and_logout_flow_in_a_row_ends_as_expected_with_no_false_alarms(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE, password="pa55word")
    async with gateway(schema, clock, fake) as (services, http):
        services.accounts.onboarding.qr_round_s = 0.5

        async def ready() -> bool:
            return (await instance_row(services)).status == "ready"

        async def log_out() -> None:
            keys = set(fake.authorized_keys(account))
            assert (await post(http, "/logout")).status_code == 200
            await assert_logged_out_everywhere(services, fake, account, keys)

        for _ in range(2):
            # Code, then the 2FA password.
            step = await code_login(http, fake)
            assert step.json()["step"] == "password_needed", step.text
            done = await post(http, "/login/password", {"password": "pa55word"})
            assert done.json()["step"] == "ready", done.text
            assert await ready()
            await log_out()
            # QR, then the 2FA password.
            assert (await post(http, "/login/qr")).status_code == 200
            fake.scan_qr(account)

            async def password_asked() -> bool:
                state = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
                return bool(state["step"] == "password_needed")

            await eventually(password_asked, "the QR scan to ask for the password")
            done = await post(http, "/login/password", {"password": "pa55word"})
            assert done.json()["step"] == "ready", done.text
            assert await ready()
            await log_out()
        await assert_no_false_alarms(services)


async def test_logouts_at_random_points_of_opening_the_new_session_always_end_logged_out(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    """The new session's first calls after a login, each in turn held (at a point chosen by a
    seeded random draw) while a logout comes: every round ends logged out, the next login
    works at once."""
    draw = random.Random(20261203)
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        for _ in range(4):
            started = await post(http, "/login", {"phone": GATEWAY_PHONE})
            assert started.status_code == 200, started.text
            # The new session's first calls: getConfig, getUsers (getMe), getDifference (its
            # catch-up), getDialogs (read marks).
            name = draw.choice(
                ["GetConfigRequest", "GetUsersRequest", "GetDifferenceRequest", "GetDialogsRequest"]
            )
            held = fake.hold_next(name, new_connections=True)
            login = asyncio.create_task(post(http, "/login/code", {"code": fake.login_code}))
            await asyncio.wait_for(held.arrived.wait(), 15)
            keys = set(fake.authorized_keys(account))
            assert (await post(http, "/logout")).status_code == 200, name
            held.release()
            assert (await login).status_code == 200
            await assert_logged_out_everywhere(services, fake, account, keys)
        await assert_no_false_alarms(services)
