"""The alerts admin API (GET /admin/alerts, /admin/alerts/webhook, POST /admin/alerts/test),
the console's view of it, and the alert webhook from [alerts] in the configuration."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.main import sync_webhooks
from app.services import Services
from tests.alerts.helpers import ALERT_URL, EVENT_URL, set_alert_webhook, set_status
from tests.app.test_console import sign_in
from tests.conftest import ADMIN, Clock
from tests.inbound.webhooks.helpers import Receiver, delivery_worker, now_clock, public_dns

SECRET = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="


@pytest.fixture
def clock() -> Clock:
    return now_clock()


@pytest.fixture
def admin_http(http: httpx.AsyncClient, services: Services) -> httpx.AsyncClient:
    services.resolve_host = public_dns
    return http


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


async def test_put_sets_the_alert_webhook_and_get_shows_its_secret(
    admin_http: httpx.AsyncClient,
) -> None:
    made = await set_alert_webhook(admin_http)
    assert made["url"] == ALERT_URL and made["source"] == "alerts"
    assert made["managed_by"] == "api" and made["secret"].startswith("whsec_")
    shown = (await admin_http.get("/admin/alerts/webhook", headers=ADMIN)).json()
    assert shown["id"] == made["id"] and shown["secret"] == made["secret"]
    moved = await set_alert_webhook(admin_http, "https://alerts2.example.com/x")
    assert moved["id"] == made["id"] and moved["secret"] == made["secret"]


async def test_delete_removes_the_alert_webhook(admin_http: httpx.AsyncClient) -> None:
    made = await set_alert_webhook(admin_http)
    response = await admin_http.delete("/admin/alerts/webhook", headers=ADMIN)
    assert response.json() == {"id": made["id"], "deleted": True}
    assert "No alert webhook" in error_of(
        await admin_http.get("/admin/alerts/webhook", headers=ADMIN), 404
    )
    error_of(await admin_http.delete("/admin/alerts/webhook", headers=ADMIN), 404)


async def test_put_refuses_a_private_target(http: httpx.AsyncClient) -> None:
    response = await http.put(
        "/admin/alerts/webhook", json={"url": "http://127.0.0.1:9/x"}, headers=ADMIN
    )
    error_of(response, 400)


async def test_the_test_alert_is_delivered_signed(
    admin_http: httpx.AsyncClient, services: Services
) -> None:
    secret = (await set_alert_webhook(admin_http))["secret"]
    response = await admin_http.post("/admin/alerts/test", headers=ADMIN)
    assert response.status_code == 202, response.text
    alert = response.json()["alert"]
    assert alert["kind"] == "test" and alert["delivery"]["status"] == "pending"
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [request] = receiver.requests
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert body["type"] == "alert.test" and body["data"]["alert_id"] == alert["id"]
    listed = (await admin_http.get("/admin/alerts", headers=ADMIN)).json()["data"]
    assert listed[0]["delivery"]["status"] == "delivered"


async def test_the_test_alert_needs_an_alert_webhook(http: httpx.AsyncClient) -> None:
    assert "No alert webhook" in error_of(await http.post("/admin/alerts/test", headers=ADMIN), 409)


async def test_alerts_are_listed_newest_first_in_pages(
    http: httpx.AsyncClient, services: Services
) -> None:
    await set_status(services, "ready")
    for status in ("restricted", "ready", "banned"):
        await set_status(services, status)
    page = (await http.get("/admin/alerts?limit=2", headers=ADMIN)).json()
    assert [a["kind"] for a in page["data"]] == ["instance.unhealthy", "instance.recovered"]
    assert page["data"][0]["detail"]["status"] == "banned"
    assert page["data"][0]["delivery"] is None  # no alert webhook
    rest = (
        await http.get(f"/admin/alerts?limit=2&before={page['next_before']}", headers=ADMIN)
    ).json()
    assert [a["kind"] for a in rest["data"]] == ["instance.unhealthy"]
    assert rest["next_before"] is None


async def test_the_console_session_reads_the_alerts(
    http: httpx.AsyncClient, services: Services
) -> None:
    await set_status(services, "ready")
    await set_status(services, "frozen")
    await sign_in(http)
    response = await http.get("/admin/alerts")
    assert response.status_code == 200, response.text
    [alert] = response.json()["data"]
    assert alert["severity"] == "critical" and alert["instance"] == 1


async def test_the_console_script_shows_the_alerts() -> None:
    from app.routes.console import STATIC_DIR

    script = (STATIC_DIR / "console.js").read_text(encoding="utf-8")
    assert '"alerts"' in script and "viewAlerts" in script


class TestFromTheConfiguration:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {
            "alerts": {"url": ALERT_URL, "secret": SECRET},
            "webhooks": [{"url": ALERT_URL}, {"url": EVENT_URL}],
        }

    async def test_alerts_url_makes_the_alert_webhook_apart_from_webhooks(
        self, admin_http: httpx.AsyncClient, services: Services
    ) -> None:
        await sync_webhooks(services)
        await sync_webhooks(services)  # again (a restart): nothing new
        shown = (await admin_http.get("/admin/alerts/webhook", headers=ADMIN)).json()
        assert shown["managed_by"] == "config" and shown["secret"] == SECRET
        listed = (await admin_http.get("/admin/webhooks", headers=ADMIN)).json()["data"]
        assert sorted(e["source"] for e in listed) == ["alerts", "config", "config"]

    async def test_the_api_may_not_change_a_configured_alert_webhook(
        self, admin_http: httpx.AsyncClient, services: Services
    ) -> None:
        await sync_webhooks(services)
        put = await admin_http.put("/admin/alerts/webhook", json={"url": EVENT_URL}, headers=ADMIN)
        assert "[alerts] url" in error_of(put, 409)
        error_of(await admin_http.delete("/admin/alerts/webhook", headers=ADMIN), 409)


async def test_the_alert_webhook_takes_no_event_filter_through_the_webhooks_api(
    admin_http: httpx.AsyncClient,
) -> None:
    made = await set_alert_webhook(admin_http)
    response = await admin_http.patch(
        f"/admin/webhooks/{made['id']}", json={"format": "whatsmate"}, headers=ADMIN
    )
    assert "alert webhook" in error_of(response, 409)
    disabled = await admin_http.patch(
        f"/admin/webhooks/{made['id']}", json={"enabled": False}, headers=ADMIN
    )
    assert disabled.status_code == 200, disabled.text
    [alert] = (await admin_http.get("/admin/alerts", headers=ADMIN)).json()["data"]
    assert alert["kind"] == "webhook.endpoint_disabled"
    assert alert["delivery"] is None  # recorded, not queued for the disabled webhook itself
