"""Logging a sandbox instance out and in over the admin API, and its profile."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from app.models import Event, Instance
from app.services import Services
from tests.conftest import ADMIN
from tests.waiting import eventually


async def status_events(services: Services) -> list[str]:
    import orjson

    async with services.database.read() as session:
        payloads = list(
            await session.scalars(
                select(Event.payload).where(Event.type == "instance.status").order_by(Event.seq)
            )
        )
    return [orjson.loads(p)["data"]["status"] for p in payloads]


async def instance(services: Services) -> Instance:
    async with services.database.read() as session:
        row = await session.get(Instance, 1)
    assert row is not None
    return row


async def post(http: httpx.AsyncClient, path: str, body: Any = None) -> httpx.Response:
    return await http.post(f"/admin/instances/1{path}", json=body, headers=ADMIN)


async def logged_out(http: httpx.AsyncClient) -> None:
    response = await post(http, "/logout")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "logged_out"


async def test_logout_then_code_login_with_12345_brings_the_sandbox_back(
    http: httpx.AsyncClient, services: Services
) -> None:
    await logged_out(http)
    assert (await instance(services)).status == "logged_out"
    started = await post(http, "/login", {"phone": "+49 151 2345 6789"})
    assert started.status_code == 200, started.text
    assert started.json()["step"] == "code_sent"
    assert (await instance(services)).status == "awaiting_code"
    state = await http.get("/admin/instances/1/login", headers=ADMIN)
    assert state.json()["step"] == "code_sent"
    done = await post(http, "/login/code", {"code": "12345"})
    assert done.status_code == 200, done.text
    assert done.json()["step"] == "ready"
    inst = await instance(services)
    assert (inst.status, inst.phone) == ("ready", "4915123456789")
    assert await status_events(services) == ["ready", "logged_out", "awaiting_code", "ready"]


async def test_a_wrong_code_is_refused_and_can_be_retried(
    http: httpx.AsyncClient, services: Services
) -> None:
    await logged_out(http)
    await post(http, "/login", {"phone": "4915123456789"})
    wrong = await post(http, "/login/code", {"code": "00000"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "code_invalid"
    assert (await instance(services)).status == "awaiting_code"
    right = await post(http, "/login/code", {"code": 12345})
    assert right.json()["step"] == "ready"


async def test_an_invalid_phone_is_a_clear_400(http: httpx.AsyncClient) -> None:
    await logged_out(http)
    response = await post(http, "/login", {"phone": "12"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "phone_invalid"
    missing = await post(http, "/login", {})
    assert missing.status_code == 400
    assert "phone" in missing.json()["error"]["message"]


async def test_a_step_out_of_order_says_what_is_expected(http: httpx.AsyncClient) -> None:
    await logged_out(http)
    response = await post(http, "/login/code", {"code": "12345"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_login"


async def test_logging_in_an_instance_that_is_logged_in_is_refused(
    http: httpx.AsyncClient,
) -> None:
    response = await post(http, "/login", {"phone": "4915123456789"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_logged_in"


async def test_qr_login_completes_when_the_phone_scans(
    http: httpx.AsyncClient, services: Services
) -> None:
    await logged_out(http)
    started = await post(http, "/login/qr")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["step"] == "awaiting_qr"
    assert body["url"].startswith("tg://login?token=")
    png = await http.get("/admin/instances/1/login/qr.png", headers=ADMIN)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    scanned = await http.post("/admin/sandbox/1/scan", headers=ADMIN)
    assert scanned.status_code == 200, scanned.text

    async def past_the_qr() -> bool:
        state = (await http.get("/admin/instances/1/login", headers=ADMIN)).json()
        return state["step"] != "awaiting_qr"

    await eventually(past_the_qr, "the scan to end the QR step", timeout_s=5)
    assert (await instance(services)).status == "ready"
    again = await http.post("/admin/sandbox/1/scan", headers=ADMIN)
    assert again.status_code == 409  # nothing waits any more


async def test_profile_names_and_a_resized_picture(
    http: httpx.AsyncClient, services: Services
) -> None:
    response = await http.put(
        "/admin/instances/1/profile",
        json={"first_name": "Acme", "last_name": "Support", "about": "We answer 9-17"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    big = Image.new("RGB", (3000, 1500), (200, 30, 30))
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    photo = await http.put(
        "/admin/instances/1/profile/photo",
        content=buffer.getvalue(),
        headers={**ADMIN, "Content-Type": "image/png"},
    )
    assert photo.status_code == 200, photo.text
    assert (photo.json()["width"], photo.json()["height"]) == (1280, 640)
    view = (await http.get("/admin/instances/1", headers=ADMIN)).json()["profile"]
    assert (view["first_name"], view["last_name"], view["about"]) == (
        "Acme",
        "Support",
        "We answer 9-17",
    )
    served = await http.get(view["photo_url"], headers=ADMIN)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(served.content)) as shown:
        assert (shown.format, shown.size) == ("JPEG", (1280, 640))
    sandbox = services.telegram.sandboxes[1]
    assert sandbox.photo_sha256 is not None


async def test_a_picture_that_is_not_jpeg_or_png_is_refused(http: httpx.AsyncClient) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, format="GIF")
    for body in (gif.getvalue(), b"not an image", b""):
        response = await http.put("/admin/instances/1/profile/photo", content=body, headers=ADMIN)
        assert response.status_code == 400, body[:10]
        assert response.json()["error"]["code"] == "invalid_image"


async def test_profile_needs_a_first_name_within_telegram_limits(http: httpx.AsyncClient) -> None:
    empty = await http.put("/admin/instances/1/profile", json={"last_name": "x"}, headers=ADMIN)
    assert empty.status_code == 400
    long = await http.put(
        "/admin/instances/1/profile",
        json={"first_name": "A", "about": "x" * 71},
        headers=ADMIN,
    )
    assert long.status_code == 400
    assert "about" in long.json()["error"]["message"]


class TestWithA2faPassword:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"instances": [{"number": 1, "backend": "sandbox", "sandbox_password": "s3cret!"}]}

    async def test_2fa_password_is_asked_after_the_code(
        self, http: httpx.AsyncClient, services: Services
    ) -> None:
        await logged_out(http)
        await post(http, "/login", {"phone": "4915123456789"})
        step = await post(http, "/login/code", {"code": "12345"})
        assert step.json()["step"] == "password_needed"
        assert (await instance(services)).status == "awaiting_password"
        wrong = await post(http, "/login/password", {"password": "nope"})
        assert wrong.status_code == 400
        assert wrong.json()["error"]["code"] == "password_invalid"
        right = await post(http, "/login/password", {"password": "s3cret!"})
        assert right.json()["step"] == "ready"
        assert "s3cret!" not in str(await status_events(services))


class TestConfiguredProfile:
    @pytest.fixture
    def settings_overrides(self, tmp_path: Any) -> dict[str, Any]:
        photo = tmp_path / "logo.png"
        Image.new("RGB", (2000, 1000), (0, 128, 0)).save(photo, format="PNG")
        profile = {"first_name": "Acme", "about": "Orders and invoices", "photo": str(photo)}
        return {"instances": [{"number": 1, "backend": "sandbox", "profile": profile}]}

    async def test_the_configured_profile_is_applied_once_at_startup(
        self, http: httpx.AsyncClient, services: Services
    ) -> None:
        from app.cluster.ownership import start_instances

        view = (await http.get("/admin/instances/1", headers=ADMIN)).json()["profile"]
        assert (view["first_name"], view["about"]) == ("Acme", "Orders and invoices")
        assert (view["photo_width"], view["photo_height"]) == (1280, 640)
        account = await services.telegram.sandboxes[1].get_profile()
        assert account is not None and account.first_name == "Acme"
        # The admin renames the account; a restart with the same config leaves it alone.
        renamed = await http.put(
            "/admin/instances/1/profile", json={"first_name": "Renamed"}, headers=ADMIN
        )
        assert renamed.status_code == 200
        await services.stop_owning()  # as if the process stopped
        tasks = await start_instances(services, workers=False)
        names = [task.get_name() for task in tasks]
        assert names == ["balancer", "instance-owner-1"]  # no send worker
        assert services.telegram.leases[1].held  # started as the owner: the config was looked at
        view = (await http.get("/admin/instances/1", headers=ADMIN)).json()["profile"]
        assert view["first_name"] == "Renamed"
