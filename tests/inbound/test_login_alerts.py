"""Logins from other devices as the processor sees them (port LoginAlert updates): one
`account.login_alert` per login whether the update, the 777000 notice or both announce it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from app.instances import sync_instances
from app.models import Event
from app.services import Services
from app.telegram.port import LoginAlert
from inbound.login_alerts import PAIR_WINDOW, recent_login_alerts
from inbound.processor import InboundProcessor

WHEN = datetime(2026, 11, 25, 11, 58, 30, tzinfo=UTC)
NOTICE = (
    "New login. Dear Acme, we detected a login into your account from a new device on "
    "25/11/2026 at 11:58:30 UTC.\n\nDevice: Telegram Desktop, 5.0, Windows 10\n"
    "Location: Berlin, Germany (IP = 203.0.113.7)\n\nIf this wasn't you, ..."
)


def update(hash_: int = 7_000_001, at: datetime = WHEN, **kw: Any) -> LoginAlert:
    return LoginAlert(
        source="update",
        date=at,
        hash=hash_,
        device=kw.pop("device", "Telegram Desktop, 5.0, Windows 10"),
        location=kw.pop("location", "Berlin, Germany (IP = 203.0.113.7)"),
        unconfirmed=kw.pop("unconfirmed", True),
    )


def notice(message_id: int = 41, at: datetime = WHEN) -> LoginAlert:
    return LoginAlert(
        source="service_notice",
        date=at,
        device="Telegram Desktop, 5.0, Windows 10",
        location="Berlin, Germany (IP = 203.0.113.7)",
        text=NOTICE,
        message_id=message_id,
    )


@pytest.fixture
async def processor(services: Services) -> InboundProcessor:
    async with services.database.write() as session:
        await sync_instances(session, services.settings, services.clock())
    return InboundProcessor(
        1,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
        services.stamps,
    )


async def alerts(services: Services) -> list[dict[str, Any]]:
    async with services.database.read() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == "account.login_alert").order_by(Event.seq)
        )
        return [orjson.loads(r.payload)["data"] for r in rows]


async def test_an_update_then_its_notice_make_one_event_with_the_hash(
    services: Services, processor: InboundProcessor
) -> None:
    await processor(update())
    await processor(notice(at=WHEN + timedelta(seconds=2)))
    [data] = await alerts(services)
    assert data == {
        "instance": 1,
        "hash": "7000001",
        "device": "Telegram Desktop, 5.0, Windows 10",
        "location": "Berlin, Germany (IP = 203.0.113.7)",
        "date": "2026-11-25T11:58:30Z",
        "unconfirmed": True,
        "source": "update",
        "text": None,
    }


async def test_a_notice_then_its_update_make_one_event_from_the_notice(
    services: Services, processor: InboundProcessor
) -> None:
    await processor(notice())
    await processor(update(at=WHEN + timedelta(seconds=1)))
    [data] = await alerts(services)
    assert data["source"] == "service_notice"
    assert data["hash"] is None and data["unconfirmed"] is None
    assert data["text"] == NOTICE
    assert data["device"] == "Telegram Desktop, 5.0, Windows 10"


async def test_a_notice_alone_makes_the_event(
    services: Services, processor: InboundProcessor
) -> None:
    await processor(notice())
    assert [d["source"] for d in await alerts(services)] == ["service_notice"]


async def test_replays_after_a_restart_change_nothing(
    services: Services, processor: InboundProcessor
) -> None:
    for _ in range(2):
        await processor(update())
        await processor(notice())
    # A notice replayed by catch-up long after, and the session's later confirmation.
    await processor(notice(at=WHEN + timedelta(hours=3)))
    await processor(update(at=WHEN + timedelta(hours=3), unconfirmed=False, device=None))
    assert len(await alerts(services)) == 1


async def test_two_logins_a_minute_apart_make_two_events(
    services: Services, processor: InboundProcessor
) -> None:
    later = WHEN + timedelta(minutes=1)
    await processor(update(1))
    await processor(update(2, at=later))
    await processor(notice(41))
    await processor(notice(42, at=later))
    assert [d["hash"] for d in await alerts(services)] == ["1", "2"]


async def test_a_notice_far_from_any_update_is_another_login(
    services: Services, processor: InboundProcessor
) -> None:
    await processor(update())
    await processor(notice(at=WHEN + PAIR_WINDOW + timedelta(seconds=1)))
    assert [d["source"] for d in await alerts(services)] == ["update", "service_notice"]


async def test_recent_alerts_come_newest_first_with_their_event_ids(
    services: Services, processor: InboundProcessor
) -> None:
    await processor(update(1))
    await processor(update(2, at=WHEN + timedelta(hours=1)))
    async with services.database.read() as session:
        recent = await recent_login_alerts(session, 1)
    assert [a["hash"] for a in recent] == ["2", "1"]
    assert all(a["id"].startswith("evt_") and a["received_at"] for a in recent)
