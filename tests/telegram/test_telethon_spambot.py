"""The @SpamBot check with real Telethon against the fake MTProto server: the backend resolves
@SpamBot, sends "/start" and polls the chat for the bot's reply; the admin API turns it into the
instance status. The bot's reply reaches the gateway's update handler too, and is neither stored
nor answered (bots never are)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import select

from app.cluster.ownership import make_worker
from app.models import Event
from app.services import Services
from app.telegram.port import IncomingMessage, Update
from app.telegram.spambot import NOT_LIMITED_REPLY
from app.telegram.telethon import TelethonBackend
from tests.conftest import ADMIN, Clock, drain
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.test_spambot import LIMITED_UNTIL
from tests.telegram.test_telethon_backend import (
    inbound_rows,
    instance_row,
    ready_gateway,
)
from tests.waiting import eventually


async def check(http: httpx.AsyncClient) -> httpx.Response:
    return await http.post("/admin/instances/1/check", headers=ADMIN)


async def events(services: Services, type_: str) -> list[dict[str, Any]]:
    async with services.database.read() as session:
        rows = await session.scalars(select(Event).where(Event.type == type_).order_by(Event.seq))
        return [dict(json.loads(row.payload)["data"]) for row in rows]


async def test_a_clean_account_checks_ok_and_stays_ready(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, _h):
        bot = fake.add_spambot()
        before = await events(services, "instance.status")
        response = await check(http)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["condition"], answer["reply"]) == ("ok", NOT_LIMITED_REPLY)
        assert (answer["status"], answer["until"]) == ("ready", None)
        assert (await instance_row(services)).status == "ready"
        assert await events(services, "instance.status") == before
        # What went to Telegram: @SpamBot resolved by name, "/start" with a random_id.
        assert fake.requests_of("ResolveUsernameRequest")[-1].username == "SpamBot"
        start = [r for r in fake.sent_to(bot, account)]
        assert [r.text for r in start] == ["/start"] and start[0].random_id
        assert fake.unsupported == []


async def test_a_limited_reply_restricts_with_its_words_and_a_later_ok_makes_it_ready(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, _p, _h):
        fake.add_spambot(reply=LIMITED_UNTIL)
        response = await check(http)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["condition"], answer["status"]) == ("restricted", "restricted")
        assert answer["until"] == "2027-01-03T12:00:00Z"
        row = await instance_row(services)
        assert row.status == "restricted" and row.paused_until is None  # the queue goes on
        assert row.status_detail is not None and len(row.status_detail) <= 255
        assert "limited" in row.status_detail and "until 2027-01-03 12:00 UTC" in row.status_detail
        last = (await events(services, "instance.status"))[-1]
        assert (last["status"], last["detail"]) == ("restricted", row.status_detail)
        fake.spambot_reply = NOT_LIMITED_REPLY
        answer = (await check(http)).json()
        assert (answer["condition"], answer["status"]) == ("ok", "ready")
        last = (await events(services, "instance.status"))[-1]
        assert (last["status"], last["previous_status"]) == ("ready", "restricted")


async def test_the_bots_reply_is_never_a_received_message_nor_answered(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, _h):
        bot = fake.add_spambot(reply=LIMITED_UNTIL)
        received_before = len(await events(services, "message.received"))
        inbound_before = len(await inbound_rows(services))
        # The reply is pushed to the gateway's update handler as well: note when the pipeline
        # has handled it.
        backend = services.telegram.backends[1]
        assert isinstance(backend, TelethonBackend)
        pipeline = backend._on_update
        assert pipeline is not None
        handled: list[Update] = []

        async def noting(updates: Sequence[Update]) -> None:
            await pipeline(updates)
            handled.extend(updates)

        backend._on_update = noting
        assert (await check(http)).status_code == 200

        async def bot_reply_handled() -> bool:
            return any(
                isinstance(u, IncomingMessage) and u.sender.user_id == bot.user_id for u in handled
            )

        await eventually(bot_reply_handled, "the bot's reply to reach the pipeline")
        await drain(make_worker(services, 1))  # a registration reply would go out now
        assert len(await events(services, "message.received")) == received_before
        assert len(await inbound_rows(services)) == inbound_before
        assert [r.text for r in fake.sent_to(bot, account)] == ["/start"]


async def test_a_silent_bot_is_a_504_within_the_bound_and_changes_nothing(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, _p, _h):
        fake.add_spambot(reply=None)
        backend = services.telegram.backends[1]
        assert isinstance(backend, TelethonBackend)
        backend.spambot_wait_s, backend.spambot_poll_s = 0.6, 0.1
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await check(http)
        took = loop.time() - started
        assert response.status_code == 504, response.text
        error = response.json()["error"]
        assert error["code"] == "spambot_timeout" and "did not answer" in error["message"]
        assert took < 5
        assert len(fake.requests_of("GetHistoryRequest")) >= 2  # it polled meanwhile
        assert (await instance_row(services)).status == "ready"


async def test_an_account_without_spambot_is_503_unavailable(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, _p, _h):
        response = await check(http)  # no add_spambot: USERNAME_NOT_OCCUPIED
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable"
        assert (await instance_row(services)).status == "ready"
