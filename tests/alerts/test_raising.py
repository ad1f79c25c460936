"""Each kind of alert is raised once when its condition happens, through the code that makes
it happen, and reaches the alert webhook signed; the same condition does not alert again until
it has cleared."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.services import Services
from tests.alerts.helpers import ALERT_URL, EVENT_URL, alerts, set_alert_webhook, set_status
from tests.conftest import ADMIN, Clock
from tests.inbound.webhooks.helpers import (
    Receiver,
    add_endpoint,
    deliveries,
    delivery_worker,
    now_clock,
    public_dns,
    write_event,
)


@pytest.fixture
def clock() -> Clock:
    return now_clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_delivery": {"retry_schedule_s": [5.0]}}


@pytest.fixture
def receiver(services: Services) -> Receiver:
    services.resolve_host = public_dns
    return Receiver()


@pytest.fixture
async def alert_secret(http: httpx.AsyncClient, receiver: Receiver) -> str:
    secret: str = (await set_alert_webhook(http))["secret"]
    return secret


def to_alerts(receiver: Receiver) -> list[dict[str, Any]]:
    return [
        body
        for request, body in zip(receiver.requests, receiver.bodies, strict=True)
        if str(request.url) == ALERT_URL
    ]


async def test_an_instance_turning_banned_sends_one_signed_critical_alert(
    services: Services, receiver: Receiver, alert_secret: str
) -> None:
    await set_status(services, "ready")
    await set_status(services, "banned", "USER_DEACTIVATED_BAN")
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [request] = receiver.requests
    assert str(request.url) == ALERT_URL
    body = Webhook(alert_secret).verify(request.content, dict(request.headers))
    [alert] = await alerts(services)
    assert request.headers["webhook-id"] == f"alert_{alert.id}"
    assert body["type"] == "alert.instance.unhealthy"
    assert body["data"]["alert_id"] == alert.id
    assert body["data"]["kind"] == "instance.unhealthy"
    assert body["data"]["severity"] == "critical"
    assert body["data"]["instance"] == 1
    assert "banned" in body["data"]["summary"]
    assert body["data"]["detail"]["previous_status"] == "ready"
    assert body["data"]["detail"]["detail"] == "USER_DEACTIVATED_BAN"
    [row] = await deliveries(services)
    assert row.status == "delivered" and row.event_seq is None


async def test_an_unhealthy_status_alerts_once_until_the_instance_is_ready_again(
    services: Services, alert_secret: str
) -> None:
    await set_status(services, "ready")
    await set_status(services, "restricted", "PEER_FLOOD")
    await set_status(services, "restricted", "still limited")  # same status, new detail
    await set_status(services, "flood_wait", wait_s=30)  # short: no alert
    await set_status(services, "restricted", "again")  # still open: no alert
    assert [a.kind for a in await alerts(services)] == ["instance.unhealthy"]
    await set_status(services, "ready")
    await set_status(services, "restricted", "once more")
    found = await alerts(services)
    assert [a.kind for a in found] == [
        "instance.unhealthy",
        "instance.recovered",
        "instance.unhealthy",
    ]
    assert found[0].resolved_at is not None and found[0].open_key is None
    assert found[1].severity == "info" and found[2].resolved_at is None


async def test_a_flood_wait_alerts_only_when_it_lasts_an_hour_or_more(
    services: Services, alert_secret: str
) -> None:
    await set_status(services, "ready")
    await set_status(services, "flood_wait", wait_s=3599)
    await set_status(services, "ready")
    assert await alerts(services) == []
    await set_status(services, "flood_wait", wait_s=3600)
    [alert] = await alerts(services)
    assert alert.severity == "warning" and '"flood_wait_s":3600' in alert.detail


async def test_logged_out_alerts_only_after_the_instance_was_logged_in(
    services: Services, alert_secret: str
) -> None:
    await set_status(services, "awaiting_code")
    await set_status(services, "logged_out")  # an abandoned login
    assert await alerts(services) == []
    await set_status(services, "ready")
    await set_status(services, "logged_out")
    assert [a.kind for a in await alerts(services)] == ["instance.unhealthy"]


async def test_an_alert_is_recorded_without_an_alert_webhook(
    http: httpx.AsyncClient, services: Services
) -> None:
    await set_status(services, "ready")
    await set_status(services, "revoked")
    [alert] = await alerts(services)
    assert alert.delivery_id is None
    assert await deliveries(services) == []


async def test_a_dead_delivery_alerts_once_per_endpoint_until_one_goes_through(
    services: Services, receiver: Receiver, alert_secret: str, clock: Clock
) -> None:
    endpoint_id, _ = await add_endpoint(services, EVENT_URL)
    receiver.rule = lambda request, body: 500 if str(request.url) == EVENT_URL else 200
    await write_event(services, number="34600000001")
    await write_event(services, number="34600000002")
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 2
        clock.advance(7)
        assert await worker.step() == 2  # both go dead: one alert
        [alert] = await alerts(services, "webhook.delivery_dead")
        assert alert.severity == "warning"
        assert f'"endpoint_id":"{endpoint_id}"' in alert.detail
        assert await worker.step() == 1  # the alert goes out
        receiver.rule = None  # the receiver works again
        await write_event(services, number="34600000003")
        assert await worker.step() == 1
        receiver.rule = lambda request, body: 500 if str(request.url) == EVENT_URL else 200
        await write_event(services, number="34600000004")
        assert await worker.step() == 1
        clock.advance(7)
        assert await worker.step() == 1  # dead again: a new alert
        assert await worker.step() == 1
    assert len(await alerts(services, "webhook.delivery_dead")) == 2
    sent = to_alerts(receiver)
    assert [b["type"] for b in sent] == ["alert.webhook.delivery_dead"] * 2


async def test_a_410_disables_the_endpoint_and_alerts_once(
    services: Services, receiver: Receiver, alert_secret: str
) -> None:
    endpoint_id, _ = await add_endpoint(services, EVENT_URL)
    receiver.rule = lambda request, body: 410 if str(request.url) == EVENT_URL else 200
    await write_event(services, number="34600000001")
    await write_event(services, number="34600000002")
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 2  # both answered 410 in one round
        assert await worker.step() == 1  # the alert
    [alert] = await alerts(services, "webhook.endpoint_disabled")
    assert "410" in alert.summary
    [body] = to_alerts(receiver)
    assert body["data"]["detail"]["endpoint_id"] == endpoint_id


async def test_an_admin_disabling_an_endpoint_alerts_and_enabling_it_clears_the_alert(
    http: httpx.AsyncClient, services: Services, alert_secret: str
) -> None:
    endpoint_id, _ = await add_endpoint(services, EVENT_URL)
    for enabled in (False, False, True, False):
        response = await http.patch(
            f"/admin/webhooks/{endpoint_id}", json={"enabled": enabled}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
    found = await alerts(services, "webhook.endpoint_disabled")
    assert len(found) == 2  # the second `false` changed nothing
    assert found[0].resolved_at is not None and found[1].resolved_at is None
    assert "admin API" in found[0].summary


async def test_a_dead_alert_delivery_raises_no_alert_about_itself(
    services: Services, receiver: Receiver, alert_secret: str, clock: Clock
) -> None:
    receiver.rule = lambda request, body: 500  # the alert receiver is down
    await set_status(services, "ready")
    await set_status(services, "banned")
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
        clock.advance(7)
        assert await worker.step() == 1  # dead
        clock.advance(3600)
        assert await worker.step() == 0  # nothing more to send
    [alert] = await alerts(services)
    assert alert.kind == "instance.unhealthy"
    [row] = await deliveries(services)
    assert row.status == "dead"
    assert len(receiver.requests) == 2


async def test_events_never_reach_the_alert_webhook(
    services: Services, receiver: Receiver, alert_secret: str
) -> None:
    await add_endpoint(services, EVENT_URL)
    await write_event(services)
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    assert [str(r.url) for r in receiver.requests] == [EVENT_URL]
