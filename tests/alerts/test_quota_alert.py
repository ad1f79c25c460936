"""The daily quota alert: once a day, when accepted sends cross 80 % of [limits]
messages_per_day (a quota of 5: the 4th message crosses it)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.alerts.quota import crossed
from app.services import Services
from tests.alerts.helpers import alerts, set_alert_webhook
from tests.conftest import ADMIN, Clock, say
from tests.inbound.webhooks.helpers import deliveries, public_dns

NUMBER = "34612345678"
TEXT = "/v3/telegram/single/text/message/1"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"limits": {"messages_per_day": 5}}


async def send(http: httpx.AsyncClient, headers: dict[str, str], count: int) -> None:
    for i in range(count):
        response = await http.post(
            TEXT, json={"number": NUMBER, "message": f"m{i}"}, headers=headers
        )
        assert response.status_code == 200, response.text


async def test_the_quota_alert_is_raised_once_when_80_percent_is_used(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    services.resolve_host = public_dns
    await set_alert_webhook(http)
    await say(http, NUMBER, "Hola")
    await send(http, api_client, 3)
    assert await alerts(services) == []
    await send(http, api_client, 1)
    [alert] = await alerts(services)
    assert (alert.kind, alert.severity) == ("quota.daily", "warning")
    assert '"used":4' in alert.detail and '"limit":5' in alert.detail
    assert '"quota":"deployment"' in alert.detail
    await send(http, api_client, 1)
    assert len(await alerts(services)) == 1
    [delivery] = await deliveries(services)
    assert delivery.event_type == "alert.quota.daily"


async def test_the_quota_alert_comes_again_the_next_day(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str], clock: Clock
) -> None:
    await say(http, NUMBER, "Hola")
    await send(http, api_client, 4)
    clock.advance(24 * 3600)
    await send(http, api_client, 3)
    assert len(await alerts(services)) == 1  # yesterday's
    await send(http, api_client, 1)
    days = [a.condition for a in await alerts(services)]
    assert len(days) == 2 and days[0] != days[1]


def test_crossing_is_from_under_80_percent_to_at_or_over_it() -> None:
    assert crossed(3, 4, 5)
    assert crossed(0, 5, 5)  # one big batch
    assert not crossed(4, 5, 5)  # crossed before
    assert not crossed(2, 3, 5)
    assert not crossed(0, 0, 0)  # a quota of 0


async def test_an_api_clients_own_quota_alerts_at_80_percent_of_it(
    http: httpx.AsyncClient, services: Services, api_client: dict[str, str]
) -> None:
    changed = await http.patch(
        "/admin/clients/ops@example.com", json={"daily_quota": 2}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text
    await say(http, NUMBER, "Hola")
    await send(http, api_client, 1)
    assert await alerts(services) == []  # 1 of 2: 50 %, and 1 of the deployment's 5
    await send(http, api_client, 1)
    [alert] = await alerts(services)
    assert '"quota":"client:ops@example.com"' in alert.detail
    assert '"used":2' in alert.detail and '"limit":2' in alert.detail
