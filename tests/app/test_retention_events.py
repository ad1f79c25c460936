"""The retention of the event log: old events go, never past a reader's position (webhook
endpoints enabled or lately disabled, the callback cursor, pull queues) and never one an open
or dead delivery still renders."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from app.db import create_engine
from app.models import Event
from app.retention.events import CALLBACK_SOURCE
from app.retention.job import LOCK_KEY
from app.services import Services
from inbound.webhooks.callback_secrets import SOURCE
from tests.app import retention_rows as r
from tests.app.retention_rows import DAY
from tests.conftest import Clock


async def six_old_events(services: Services, clock: Clock) -> tuple[list[int], datetime]:
    """Six events 31 days old, then two new ones; the callback fan-out has read them all."""
    now = clock()
    seqs = await r.events(services.database, *[now - 31 * DAY] * 6, now, now)
    await r.cursor(services.database, seqs[-1])
    return seqs, now


async def left(services: Services) -> list[int]:
    return sorted(await r.ids(services.database, Event, "seq"))


async def test_old_events_every_reader_has_passed_go_and_new_ones_stay(
    services: Services, clock: Clock
) -> None:
    seqs, _ = await six_old_events(services, clock)
    deleted = await r.job(services.database, clock).run_once()
    assert deleted["event"] == 6
    assert await left(services) == seqs[6:]


async def test_an_enabled_endpoint_s_cursor_holds_the_events_after_it(
    services: Services, clock: Clock
) -> None:
    seqs, now = await six_old_events(services, clock)
    await r.endpoint(services.database, seqs[2], now)
    await r.job(services.database, clock).run_once()
    assert await left(services) == seqs[3:]


async def test_a_lately_disabled_endpoint_keeps_its_cursor_s_events(
    services: Services, clock: Clock
) -> None:
    seqs, now = await six_old_events(services, clock)
    await r.endpoint(services.database, seqs[1], now, enabled=False, disabled_at=now - 29 * DAY)
    await r.job(services.database, clock).run_once()
    assert await left(services) == seqs[2:]


async def test_an_endpoint_disabled_for_longer_than_the_retention_holds_nothing(
    services: Services, clock: Clock
) -> None:
    seqs, now = await six_old_events(services, clock)
    await r.endpoint(services.database, seqs[1], now, enabled=False, disabled_at=now - 31 * DAY)
    await r.job(services.database, clock).run_once()
    assert await left(services) == seqs[6:]


async def test_callback_and_alert_endpoints_do_not_hold_the_log_by_their_cursor(
    services: Services, clock: Clock
) -> None:
    seqs, now = await six_old_events(services, clock)
    for source in (CALLBACK_SOURCE, "alerts"):
        await r.endpoint(services.database, 0, now, source=source)
    await r.job(services.database, clock).run_once()
    assert await left(services) == seqs[6:]


def test_the_callback_source_is_the_callback_fan_out_s() -> None:
    assert CALLBACK_SOURCE == SOURCE


async def test_the_callback_cursor_holds_the_events_after_it(
    services: Services, clock: Clock
) -> None:
    now = clock()
    seqs = await r.events(services.database, *[now - 31 * DAY] * 4)
    await r.cursor(services.database, seqs[1])
    await r.job(services.database, clock).run_once()
    assert await left(services) == seqs[2:]


async def test_without_the_callback_cursor_nothing_goes(services: Services, clock: Clock) -> None:
    now = clock()
    seqs = await r.events(services.database, *[now - 31 * DAY] * 3)
    assert (await r.job(services.database, clock).run_once())["event"] == 0
    assert await left(services) == seqs


async def test_a_pull_queue_s_acknowledged_position_holds_however_old(
    services: Services, clock: Clock
) -> None:
    seqs, now = await six_old_events(services, clock)
    await r.queue(services.database, seqs[3], now - 400 * DAY)
    await r.job(services.database, clock).run_once()
    assert await left(services) == seqs[4:]


async def test_events_open_or_dead_deliveries_render_stay_and_delivered_ones_hold_none(
    services: Services, clock: Clock
) -> None:
    seqs, now = await six_old_events(services, clock)
    hook = await r.endpoint(services.database, seqs[-1], now)
    for seq, status in zip(seqs, ("pending", "delivering", "dead", "delivered"), strict=False):
        await r.delivery(services.database, hook, status, now - DAY, event_seq=seq)
    deleted = await r.job(services.database, clock).run_once()
    assert deleted["event"] == 3
    assert await left(services) == [*seqs[:3], *seqs[6:]]


async def test_events_younger_than_the_window_stay_though_every_reader_passed_them(
    services: Services, clock: Clock
) -> None:
    now = clock()
    seqs = await r.events(services.database, now - 31 * DAY, now - 29 * DAY, now - 31 * DAY)
    await r.cursor(services.database, seqs[-1])
    await r.job(services.database, clock).run_once()
    # The pass stops at the first event that is not old: seq order is time order.
    assert await left(services) == seqs[1:]


async def test_old_events_are_deleted_in_batches_past_the_ones_held(
    services: Services, clock: Clock
) -> None:
    seqs, now = await six_old_events(services, clock)
    hook = await r.endpoint(services.database, seqs[-1], now)
    await r.delivery(services.database, hook, "pending", now, event_seq=seqs[0])
    batches: list[tuple[str, int]] = []
    deleted = await r.job(services.database, clock, batches, batch_size=2).run_once()
    assert deleted["event"] == 5
    assert batches == [("event", 1), ("event", 2), ("event", 2)]
    assert await left(services) == [seqs[0], *seqs[6:]]


async def test_events_stay_for_ever_when_their_rule_is_off(
    services: Services, clock: Clock
) -> None:
    seqs, _ = await six_old_events(services, clock)
    assert (await r.job(services.database, clock, events_days=0).run_once())["event"] == 0
    assert await left(services) == seqs


async def test_a_second_process_leaves_the_pass_to_the_one_at_it(
    services: Services, clock: Clock
) -> None:
    """PostgreSQL: the job's advisory lock, held by another process's pass, ends this pass."""
    if services.database.is_sqlite:
        pytest.skip("SQLite writers take turns: no lock to contend for")
    seqs, _ = await six_old_events(services, clock)
    other = create_engine(services.settings.database.url)
    try:
        async with other.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            deleted = await r.job(services.database, clock).run_once()
            assert deleted["event"] == 0
        assert (await r.job(services.database, clock).run_once())["event"] == 6
    finally:
        await other.dispose()
    assert await left(services) == seqs[6:]
