"""Logging the real number's backend in over the admin API, against the fake MTProto server:
code, 2FA, QR (token refresh and exchange), logout at Telegram, the profile and its picture."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from PIL import Image

from app.services import Services
from tests.conftest import ADMIN, Clock
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.test_telethon_backend import (
    GATEWAY_PHONE,
    WAIT_S,
    background_loads,
    gateway,
    instance_row,
    logged_in_beforehand,
)
from tests.waiting import eventually


async def post(http: httpx.AsyncClient, path: str, body: Any = None) -> httpx.Response:
    return await http.post(f"/admin/instances/1{path}", json=body, headers=ADMIN)


async def ready(services: Services) -> bool:
    return (await instance_row(services)).status == "ready"


async def test_code_and_2fa_login_over_http_puts_the_number_in_service(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE, password="pa55word")
    async with gateway(schema, clock, fake) as (services, http):
        assert (await instance_row(services)).status == "logged_out"
        started = await post(http, "/login", {"phone": f"+{GATEWAY_PHONE}"})
        assert started.status_code == 200, started.text
        assert (await instance_row(services)).status == "awaiting_code"
        wrong = await post(http, "/login/code", {"code": "99999"})
        assert wrong.json()["error"]["code"] == "code_invalid"
        step = await post(http, "/login/code", {"code": fake.login_code})
        assert step.json()["step"] == "password_needed"
        assert (await instance_row(services)).status == "awaiting_password"
        bad = await post(http, "/login/password", {"password": "wrong"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "password_invalid")
        done = await post(http, "/login/password", {"password": "pa55word"})
        assert done.json() == {
            "step": "ready",
            "method": "code",
            "user_id": account.user_id,
            "phone": GATEWAY_PHONE,
        }
        polled = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
        assert polled["step"] == "ready"  # GET .../login tells the outcome too
        me = await eventually(
            services.telegram.backends[1].me, "the backend to take the new session"
        )
        assert me.user_id == account.user_id
        assert (await instance_row(services)).status == "ready"


async def test_a_flood_wait_on_login_says_how_long(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    fake.fail_next("SendCodeRequest", "FLOOD_WAIT_300")
    async with gateway(schema, clock, fake) as (_services, http):
        response = await post(http, "/login", {"phone": GATEWAY_PHONE})
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "flood_wait"
        assert response.json()["error"]["seconds"] == 300
        assert response.headers["retry-after"] == "300"


async def test_qr_login_over_http_refreshes_the_token_and_completes_on_scan(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        # Tokens live about 30 s; here a round of waiting lasts half a second.
        services.accounts.onboarding.qr_round_s = 0.5
        started = await post(http, "/login/qr")
        assert started.status_code == 200, started.text
        first_url = started.json()["url"]
        assert (await instance_row(services)).status == "awaiting_qr"
        png = await http.get("/admin/instances/1/login/qr.png", headers=ADMIN)
        assert png.content.startswith(b"\x89PNG")
        exported = len(fake.requests_of("ExportLoginTokenRequest"))

        async def refreshed() -> str | None:
            state = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
            url = state.get("url")
            return url if url and url != first_url else None

        await eventually(refreshed, "a fresh QR token")
        assert len(fake.requests_of("ExportLoginTokenRequest")) > exported
        fake.scan_qr(account)
        await eventually(lambda: ready(services), "the scan to log the number in")
        state = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
        assert (state["step"], state["method"]) == ("ready", "qr")


async def test_logout_over_http_ends_the_session_at_telegram(
    schema: str, clock: Clock, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, http):
        assert (await instance_row(services)).status == "ready"
        loads = background_loads(services, monkeypatch)
        response = await post(http, "/logout")
        assert response.status_code == 200, response.text
        assert fake.requests_of("LogOutRequest")
        assert fake.authorized_keys(account) == []
        assert (await instance_row(services)).status == "logged_out"
        assert services.telegram.session_store is not None
        assert await services.telegram.session_store.load(1) is None
        # The backend settles: it found no session, so it waits for a login (no reconnect storm).
        await eventually(lambda: None in loads, "the backend to find no stored session")
        assert (await instance_row(services)).status == "logged_out"


async def test_profile_and_picture_reach_telegram(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (_services, http):
        names = await http.put(
            "/admin/instances/1/profile",
            json={"first_name": "Acme", "last_name": "Support", "about": "Orders and invoices"},
            headers=ADMIN,
        )
        assert names.status_code == 200, names.text
        assert (account.first_name, account.last_name, account.about) == (
            "Acme",
            "Support",
            "Orders and invoices",
        )
        for colour in ((255, 0, 0), (0, 0, 255)):
            buffer = io.BytesIO()
            Image.new("RGB", (2000, 2000), colour).save(buffer, format="JPEG")
            photo = await http.put(
                "/admin/instances/1/profile/photo", content=buffer.getvalue(), headers=ADMIN
            )
            assert photo.status_code == 200, photo.text
        # The second picture replaced the first: Telegram shows one, 1280 px at most.
        assert len(account.profile_photos) == 1
        shown_bytes = fake.world.files[account.profile_photos[0]].data
        with Image.open(io.BytesIO(shown_bytes)) as shown:
            assert shown.size == (1280, 1280)
            red, _green, blue = shown.convert("RGB").getpixel((640, 640))
            assert blue > 200 and red < 50


async def test_a_code_requested_before_a_restart_can_be_entered_after_it(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (_services, http):
        started = await post(http, "/login", {"phone": GATEWAY_PHONE})
        assert started.json()["step"] == "code_sent"
    # The gateway restarted: the pending login (auth key, phone, code hash) was kept sealed.
    async with gateway(schema, clock, fake) as (services, http):
        done = await post(http, "/login/code", {"code": fake.login_code})
        assert done.status_code == 200, done.text
        assert done.json()["user_id"] == account.user_id
        me = await eventually(
            services.telegram.backends[1].me, "the backend to take the new session"
        )
        assert me.user_id == account.user_id
        # The code was bound to the first auth key: the fake refuses it from any other key.
        assert len(fake.requests_of("SendCodeRequest")) == 1


async def test_a_login_that_times_out_while_its_code_is_requested_answers_cleanly(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    """The timer fires while auth.sendCode is held: the request still gets its answer, and the
    login times out only after that step, from the timer the step re-armed."""
    fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        services.accounts.onboarding.login_timeout_s = 0.05
        held = fake.hold_next("SendCodeRequest")
        request = asyncio.create_task(post(http, "/login", {"phone": GATEWAY_PHONE}))
        await asyncio.wait_for(held.arrived.wait(), WAIT_S)
        # A fixed wait is the point here: the 0.05 s timer must have fired (nothing shows
        # that it did) while the step is still in progress.
        await asyncio.sleep(0.5)  # well past the timeout, with the step still in progress
        assert not request.done()
        held.release()
        started = await asyncio.wait_for(request, WAIT_S)
        assert started.status_code == 200, started.text
        assert started.json()["step"] == "code_sent"

        async def timed_out() -> bool:
            return (await instance_row(services)).status == "logged_out"

        await eventually(timed_out, "the login to time out after the step")
        state = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
        assert state["error"]["code"] == "login_timeout"


async def test_a_login_left_alone_times_out(schema: str, clock: Clock, fake: FakeTelegram) -> None:
    fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, http):
        services.accounts.onboarding.login_timeout_s = 0.3
        await post(http, "/login", {"phone": GATEWAY_PHONE})
        assert (await instance_row(services)).status == "awaiting_code"

        async def timed_out() -> bool:
            return (await instance_row(services)).status == "logged_out"

        await eventually(timed_out, "the login to time out")
        state = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
        assert state["step"] == "idle" and state["error"]["code"] == "login_timeout"
        late = await post(http, "/login/code", {"code": fake.login_code})
        assert late.status_code == 409
