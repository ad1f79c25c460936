"""Shared pieces of the alert tests: the alert webhook, a receiver for it, status changes."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from app.instances import set_instance_status
from app.models import Alert, Instance
from app.services import Services
from tests.conftest import ADMIN

ALERT_URL = "https://alerts.example.com/tgw"
EVENT_URL = "https://hooks.example.com/tgw"


async def set_alert_webhook(http: httpx.AsyncClient, url: str = ALERT_URL) -> dict[str, Any]:
    response = await http.put("/admin/alerts/webhook", json={"url": url}, headers=ADMIN)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def set_status(
    services: Services, status: str, detail: str | None = None, wait_s: int | None = None
) -> None:
    """Instance 1's status changes the way every status change is made."""
    async with services.database.write() as session:
        inst = await session.get(Instance, 1)
        assert inst is not None
        await set_instance_status(session, inst, status, detail, services.clock(), wait_s=wait_s)


async def alerts(services: Services, kind: str | None = None) -> list[Alert]:
    async with services.database.read() as session:
        query = select(Alert).order_by(col(Alert.id))
        if kind is not None:
            query = query.where(col(Alert.kind) == kind)
        return list(await session.scalars(query))
