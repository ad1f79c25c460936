"""The retention of the records Telegram's updates and the quotas leave behind (deletion
records, reactions, login alerts, daily counts): old ones go, and what a replayed update or
today's quota still needs stays."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest
from pydantic import ValidationError

from app.main import make_retention_job
from app.models import (
    ClientDailyUsage,
    DailyUsage,
    Event,
    InboundReaction,
    LoginAlertRecord,
    MessageDeletion,
)
from app.services import Services
from app.settings import RetentionSettings
from app.telegram.port import MessagesDeleted
from inbound.processor import InboundProcessor
from outbound.quota import Want, take_quota
from tests.app import retention_rows as r
from tests.app.retention_rows import DAY
from tests.conftest import ADMIN, Clock, say

ALICE = "34611111111"


async def deletion(
    services: Services, at: datetime, direction: str = "inbound", message_id: str = "m"
) -> int:
    telegram_id = uuid.uuid4().int >> 70
    row = {
        "instance": 1,
        "channel_id": 0,
        "telegram_message_id": telegram_id,
        "direction": direction,
        "message_id": message_id,
        "deleted_at": at,
    }
    await r.put(services.database, MessageDeletion, row)
    return telegram_id


async def reaction(services: Services, at: datetime, emojis: str) -> int:
    user_id = uuid.uuid4().int >> 70
    row = {
        "instance": 1,
        "channel_id": 0,
        "telegram_message_id": 7,
        "user_id": user_id,
        "emojis": emojis,
        "reacted_at": at,
    }
    await r.put(services.database, InboundReaction, row)
    return user_id


async def login(services: Services, at: datetime) -> int:
    row = {"instance": 1, "auth_hash": uuid.uuid4().int >> 70, "login_at": at, "event_id": "e"}
    [found] = await r.put(services.database, LoginAlertRecord, row)
    return int(found)


async def test_deletion_records_of_people_s_messages_go_after_replay_records_days(
    services: Services, clock: Clock
) -> None:
    now = clock()
    await r.instance(services.database, now)
    await deletion(services, now - 31 * DAY)
    young = await deletion(services, now - 29 * DAY)
    deleted = await r.job(services.database, clock).run_once()
    assert deleted["message_deletion"] == 1
    assert await r.ids(services.database, MessageDeletion, "telegram_message_id") == {young}


async def test_the_deletion_record_of_a_gateway_message_stays_while_the_message_does(
    services: Services, clock: Clock
) -> None:
    now = clock()
    await r.instance(services.database, now)
    kept = await r.message(services.database, "sent", now - 20 * DAY)
    held = await deletion(services, now - 31 * DAY, "outbound", kept)
    await deletion(services, now - 31 * DAY, "outbound", "a message retention deleted")
    await r.job(services.database, clock, messages_days=0).run_once()
    assert await r.ids(services.database, MessageDeletion, "telegram_message_id") == {held}


async def test_a_replayed_deletion_is_not_reported_again_once_its_record_is_gone(
    services: Services, http: httpx.AsyncClient, clock: Clock
) -> None:
    await say(http, ALICE, "Hi")
    written = await say(http, ALICE, "order 12")
    response = await http.post(
        "/admin/sandbox/1/delete",
        json={"number": ALICE, "message_ids": [written["message_id"]]},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    clock.advance(31 * 86400)
    await r.job(services.database, clock, events_days=0).run_once()
    assert await r.count(services.database, MessageDeletion) == 0
    processor = InboundProcessor(
        1, services.database, services.settings, services.wakeup, services.clock
    )
    await processor([MessagesDeleted((written["message_id"],))])  # catch-up, much later
    assert await r.count(services.database, Event, Event.type == "message.deleted") == 1


async def test_cleared_reactions_go_after_replay_records_days_and_set_ones_after_reactions_days(
    services: Services, clock: Clock
) -> None:
    now = clock()
    await r.instance(services.database, now)
    await reaction(services, now - 31 * DAY, "[]")
    cleared_young = await reaction(services, now - 29 * DAY, "[]")
    set_ = await reaction(services, now - 89 * DAY, '["👍"]')
    await reaction(services, now - 91 * DAY, '["👍"]')
    deleted = await r.job(services.database, clock).run_once()
    assert deleted["inbound_reaction"] == 2
    assert await r.ids(services.database, InboundReaction, "user_id") == {cleared_young, set_}


async def test_login_alert_records_go_after_replay_records_days(
    services: Services, clock: Clock
) -> None:
    now = clock()
    await r.instance(services.database, now)
    await login(services, now - 31 * DAY)
    young = await login(services, now - 29 * DAY)
    deleted = await r.job(services.database, clock).run_once()
    assert deleted["login_alert"] == 1
    assert await r.ids(services.database, LoginAlertRecord, "id") == {young}


async def test_old_daily_counts_go_and_the_quota_of_today_is_untouched(
    services: Services, clock: Clock
) -> None:
    now = clock()
    limits = services.settings.limits
    old = (now - 91 * DAY).date().isoformat()
    await r.put(services.database, DailyUsage, {"day": old, "count": 5})
    await r.put(services.database, ClientDailyUsage, {"client_id": "a", "day": old, "count": 5})
    wants = [Want("a", 3, None)]
    await services.database.run(lambda conn: take_quota(conn, limits, wants, now))
    deleted = await r.job(services.database, clock).run_once()
    assert (deleted["daily_usage"], deleted["client_daily_usage"]) == (1, 1)
    assert await r.ids(services.database, ClientDailyUsage, "count") == {3}
    assert await r.count(services.database, DailyUsage) == 1


@pytest.mark.parametrize("days", [0.5, 1])
def test_usage_days_shorter_than_two_days_are_refused(days: float) -> None:
    with pytest.raises(ValidationError, match="usage_days"):
        RetentionSettings(usage_days=days)


async def test_the_new_tables_are_counted_in_the_metrics(
    services: Services, http: httpx.AsyncClient, clock: Clock
) -> None:
    now = clock()
    await login(services, now - 31 * DAY)
    before = (await http.get("/metrics")).text
    assert 'tgw_table_rows{table="login_alert"} 1.0' in before
    await make_retention_job(services).run_once()
    after = (await http.get("/metrics")).text
    assert 'tgw_table_rows{table="login_alert"} 0.0' in after
    assert 'tgw_retention_deleted_total{table="login_alert"} 1.0' in after
    assert 'tgw_retention_deleted_total{table="message_deletion"} 0.0' in after
