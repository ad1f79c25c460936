"""The retention job ([retention]), driven pass by pass with the test's clock: each rule deletes
what is old and final and keeps everything else. The event log's rule: test_retention_events.py.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from app.main import make_retention_job
from app.models import (
    Alert,
    ConsoleSignout,
    DeliveryAttempt,
    IdempotencyRecord,
    InboundMessage,
    MediaBlob,
    Message,
    WebhookDelivery,
)
from app.retention import RETENTION_TABLES
from app.services import Services
from app.settings import RetentionSettings
from tests.app import retention_rows as r
from tests.app.retention_rows import DAY
from tests.conftest import Clock


async def test_an_empty_database_is_passed_over_without_deleting_or_failing(
    services: Services, clock: Clock
) -> None:
    deleted = await r.job(services.database, clock).run_once()
    assert deleted == dict.fromkeys(RETENTION_TABLES, 0)


async def test_delivered_deliveries_go_with_their_attempts_after_the_window(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    hook = await r.endpoint(db, 0, now)
    await r.delivery(db, hook, "delivered", now - 8 * DAY, attempts=3)
    young = await r.delivery(db, hook, "delivered", now - 6 * DAY)
    deleted = await r.job(db, clock).run_once()
    assert (deleted["webhook_delivery"], deleted["delivery_attempt"]) == (1, 3)
    assert await r.ids(db, WebhookDelivery, "id") == {young}
    assert await r.count(db, DeliveryAttempt) == 1


async def test_pending_and_delivering_deliveries_are_kept_however_old(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    hook = await r.endpoint(db, 0, now)
    kept = {await r.delivery(db, hook, s, now - 100 * DAY) for s in ("pending", "delivering")}
    await r.job(db, clock).run_once()
    assert await r.ids(db, WebhookDelivery, "id") == kept
    assert await r.count(db, DeliveryAttempt) == 2


async def test_dead_deliveries_go_after_their_own_window(services: Services, clock: Clock) -> None:
    db, now = services.database, clock()
    hook = await r.endpoint(db, 0, now)
    await r.delivery(db, hook, "dead", now - 31 * DAY)
    young = await r.delivery(db, hook, "dead", now - 29 * DAY)
    await r.job(db, clock).run_once()
    assert await r.ids(db, WebhookDelivery, "id") == {young}


async def test_final_messages_go_after_the_window_and_unfinished_ones_stay(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    await r.instance(db, now)
    old = now - 31 * DAY
    for status in ("sent", "read", "failed"):
        await r.message(db, status, old)
    unfinished = {await r.message(db, s, old) for s in ("queued", "sending")}
    young = await r.message(db, "sent", now - 29 * DAY)
    deleted = await r.job(db, clock).run_once()
    assert deleted["message"] == 3
    assert await r.ids(db, Message, "id") == unfinished | {young}


async def test_actions_go_by_their_own_age_once_finished(services: Services, clock: Clock) -> None:
    db, now = services.database, clock()
    await r.instance(db, now)
    target = await r.message(db, "sent", now - 29 * DAY)
    old = now - 31 * DAY
    await r.message(db, "done", old, target_id=target, kind="edit")
    await r.message(db, "failed", old, target_id=target, kind="reaction")
    waiting = await r.message(db, "queued", old, target_id=target, kind="delete")
    await r.job(db, clock).run_once()
    assert await r.ids(db, Message, "id") == {target, waiting}


async def test_a_message_s_media_goes_with_it(services: Services, clock: Clock) -> None:
    db, now = services.database, clock()
    await r.instance(db, now)
    picture = await r.blob(db, now - 31 * DAY)
    await r.message(db, "sent", now - 31 * DAY, media_id=picture, kind="image")
    deleted = await r.job(db, clock).run_once()
    assert deleted["media_blob"] == 1
    assert await r.count(db, MediaBlob) == 0


async def test_media_a_kept_message_shares_stays_until_its_last_user_goes(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    await r.instance(db, now)
    shared = await r.blob(db, now - 31 * DAY)
    await r.message(db, "sent", now - 31 * DAY, media_id=shared, kind="image")
    await r.message(db, "sent", now - 20 * DAY, media_id=shared, kind="image")
    await r.job(db, clock).run_once()
    assert await r.ids(db, MediaBlob, "id") == {shared}
    assert await r.count(db, Message) == 1

    clock.advance(11 * 86400)  # the younger one is 31 days old too
    deleted = await r.job(db, clock).run_once()
    assert (deleted["message"], deleted["media_blob"]) == (1, 1)
    assert await r.count(db, MediaBlob) == 0


async def test_media_a_queued_or_inbound_message_uses_stays(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    await r.instance(db, now)
    old = now - 31 * DAY
    queued, inbound = await r.blob(db, old), await r.blob(db, old)
    for picture in (queued, inbound):
        await r.message(db, "sent", old, media_id=picture, kind="image")
    await r.message(db, "queued", old, media_id=queued, kind="image")
    await r.inbound(db, now, inbound)
    deleted = await r.job(db, clock).run_once()
    assert (deleted["message"], deleted["media_blob"]) == (2, 0)
    assert await r.ids(db, MediaBlob, "id") == {queued, inbound}


async def test_inbound_media_bytes_go_and_the_message_with_its_text_stays(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    await r.instance(db, now)
    old = await r.inbound(db, now - 31 * DAY, await r.blob(db, now - 31 * DAY))
    young_blob = await r.blob(db, now - 29 * DAY)
    young = await r.inbound(db, now - 29 * DAY, young_blob)
    deleted = await r.job(db, clock).run_once()
    assert deleted["media_blob"] == 1
    assert await r.ids(db, MediaBlob, "id") == {young_blob}
    assert await r.ids(db, InboundMessage, "id") == {old, young}
    assert await r.count(db, InboundMessage, InboundMessage.media_id.is_(None)) == 1  # type: ignore[union-attr]
    assert await r.count(db, InboundMessage, InboundMessage.text == "a photo") == 2


async def test_idempotency_keys_go_after_the_window_and_younger_ones_stay(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    await r.idempotency_key(db, "old", now - DAY - DAY / 24)
    await r.idempotency_key(db, "young", now - DAY + DAY / 24)
    deleted = await r.job(db, clock).run_once()
    assert deleted["idempotency_record"] == 1
    assert await r.ids(db, IdempotencyRecord, "key") == {"young"}


async def test_resolved_alerts_go_after_the_window_and_open_ones_stay(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    old = now - 91 * DAY
    await r.alert(db, old, resolved_at=old + DAY / 24)
    lately_resolved = await r.alert(db, old, resolved_at=now - DAY)
    still_open = await r.alert(db, old, open_key="instance:1:banned")
    young = await r.alert(db, now - 89 * DAY)
    await r.job(db, clock).run_once()
    assert await r.ids(db, Alert, "id") == {lately_resolved, still_open, young}


async def test_console_sign_outs_go_once_past_their_expiry(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    await r.signout(db, "expired", now - DAY / 24)
    await r.signout(db, "live", now + DAY / 24)
    await r.job(db, clock).run_once()
    assert await r.ids(db, ConsoleSignout, "session_id") == {"live"}


async def test_a_rule_set_to_zero_keeps_everything(services: Services, clock: Clock) -> None:
    db, now = services.database, clock()
    await r.instance(db, now)
    await r.message(db, "sent", now - 400 * DAY)
    await r.idempotency_key(db, "old", now - 400 * DAY)
    deleted = await r.job(db, clock, messages_days=0, idempotency_hours=0).run_once()
    assert (deleted["message"], deleted["idempotency_record"]) == (0, 0)
    assert await r.count(db, Message) == await r.count(db, IdempotencyRecord) == 1


async def test_many_rows_are_deleted_in_several_batches(services: Services, clock: Clock) -> None:
    db, now = services.database, clock()
    for i in range(10):
        await r.idempotency_key(db, f"k{i}", now - 2 * DAY)
    batches: list[tuple[str, int]] = []
    deleted = await r.job(db, clock, batches, batch_size=3).run_once()
    assert deleted["idempotency_record"] == 10
    assert batches == [("idempotency_record", n) for n in (3, 3, 3, 1)]


async def test_a_pass_deletes_only_what_is_old_by_the_clock_it_is_given(
    services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    await r.idempotency_key(db, "k", now - DAY / 2)
    job = r.job(db, clock)
    assert (await job.run_once())["idempotency_record"] == 0
    assert (await job.run_once(now + DAY))["idempotency_record"] == 1


def test_idempotency_keys_cannot_be_dropped_inside_the_24_hours_they_are_honoured() -> None:
    with pytest.raises(ValidationError, match="at least 24"):
        RetentionSettings(idempotency_hours=12)
    assert RetentionSettings(idempotency_hours=0).idempotency_hours == 0
    assert RetentionSettings(idempotency_hours=48).idempotency_hours == 48


async def test_metrics_show_table_sizes_and_what_retention_deleted(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    db, now = services.database, clock()
    for i in range(3):
        await r.idempotency_key(db, f"k{i}", now - 2 * DAY)
    await r.idempotency_key(db, "young", now)
    before = (await http.get("/metrics")).text
    assert 'tgw_table_rows{table="idempotency_record"} 4.0' in before
    assert 'tgw_table_rows{table="console_signout"} 0.0' in before

    await make_retention_job(services).run_once()
    after = (await http.get("/metrics")).text
    assert 'tgw_table_rows{table="idempotency_record"} 1.0' in after
    assert 'tgw_retention_deleted_total{table="idempotency_record"} 3.0' in after
    assert 'tgw_retention_deleted_total{table="event"} 0.0' in after
