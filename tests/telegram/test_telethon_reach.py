"""Reachability with the Telethon backend: real Telethon against the fake Telegram (users.
getRequirementsToContact, or users.getIsPremiumRequiredToContact on Telethon 1.39's layer,
and users.getUsers), through the HTTP API; and the errors of sends to people who need Premium
or paid messages."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from telethon import errors, functions
from telethon.tl.types import RpcError

from app.cluster.ownership import make_worker
from app.telegram import port
from app.telegram.telethon import to_port_error
from tests.conftest import Clock, drain
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.test_telethon_backend import (
    PERSON_PHONE,
    _send_text,
    greet,
    message_row,
    ready_gateway,
)
from tests.waiting import eventually

# Telethon 1.39's layer (199) has only the Premium question; paid messages came with layer 200.
TELLS_PAID = hasattr(functions.users, "GetRequirementsToContactRequest")
ASKED = "GetRequirementsToContactRequest" if TELLS_PAID else "GetIsPremiumRequiredToContactRequest"
OTHER_PHONE = "14155552671"


async def reach(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await http.get(
        f"/api/v1/recipients/{PERSON_PHONE}/reachability?instance=1", headers=headers
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_person_anyone_may_write_to_is_registered(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (_s, http, _a, person, headers):
        answer = await reach(http, headers)
        assert (answer["reachability"], answer["source"]) == ("registered", "telegram")
        (asked,) = fake.requests_of(ASKED)
        assert [(u.user_id, u.access_hash) for u in asked.id] == [
            (person.user_id, person.access_hash)
        ]


async def test_a_premium_only_person_is_premium_required(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (_s, http, _a, person, headers):
        person.requires = "premium"
        answer = await reach(http, headers)
        assert (answer["reachability"], answer["source"]) == ("premium_required", "telegram")


async def test_a_person_who_charges_stars_is_paid_messages_required_where_telethon_can_tell(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (_s, http, _a, person, headers):
        person.requires = "paid_messages"
        answer = await reach(http, headers)
        expected = "paid_messages_required" if TELLS_PAID else "registered"
        assert (answer["reachability"], answer["source"]) == (expected, "telegram")


async def test_a_deleted_account_is_deactivated(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (_s, http, _a, person, headers):
        person.deleted = True
        answer = await reach(http, headers)
        assert (answer["reachability"], answer["source"]) == ("deactivated", "telegram")
        assert fake.requests_of("GetUsersRequest")


async def test_a_batch_asks_telegram_once_for_everyone(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        other = fake.add_person(OTHER_PHONE, first_name="Bo")
        await greet(services, fake, account, other)
        other.requires = "premium"
        body = {"instance": 1, "numbers": [PERSON_PHONE, OTHER_PHONE]}
        response = await http.post("/api/v1/recipients/reachability", json=body, headers=headers)
        assert response.status_code == 200, response.text
        answers = [(a["number"], a["reachability"]) for a in response.json()["data"]]
        assert answers == [(PERSON_PHONE, "registered"), (OTHER_PHONE, "premium_required")]
        (asked,) = fake.requests_of(ASKED)
        assert {u.user_id for u in asked.id} == {person.user_id, other.user_id}


async def test_checks_asked_for_at_once_reach_telegram_one_at_a_time(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, _p, headers):
        other = fake.add_person(OTHER_PHONE, first_name="Bo")
        await greet(services, fake, account, other)
        hold = fake.hold_next(ASKED)
        first = asyncio.create_task(reach(http, headers))
        await hold.arrived.wait()
        url = f"/api/v1/recipients/{OTHER_PHONE}/reachability?instance=1"
        second = asyncio.create_task(http.get(url, headers=headers))
        backend: Any = services.telegram.backends[1]
        await eventually(
            lambda: backend._reach_turn is not None and backend._reach_turn._waiters,
            "the second check waiting its turn",
        )
        assert len(fake.requests_of(ASKED)) == 1
        hold.release()
        assert (await first)["reachability"] == "registered"
        assert (await second).json()["reachability"] == "registered"
        assert len(fake.requests_of(ASKED)) == 2


async def test_a_flood_wait_falls_back_to_what_is_stored(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (_s, http, _a, _p, headers):
        # Longer than Telethon sleeps through by itself.
        fake.fail_next(ASKED, "FLOOD_WAIT_3000", 420)
        answer = await reach(http, headers)
        assert (answer["reachability"], answer["source"]) == ("unknown", "stored")
        assert "FloodWait" in answer["detail"]


async def test_a_send_to_a_premium_only_person_fails_with_premium_required(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, person, headers):
        person.requires = "premium"
        message_id = await _send_text(http, headers, "hello?")
        await drain(make_worker(services, 1))
        row = await message_row(services, message_id)
        assert (row.status, row.error_code) == ("failed", "premium_required")
        answer = await reach(http, headers)
        assert (answer["reachability"], answer["source"]) == ("premium_required", "stored")
        assert not fake.requests_of(ASKED)


async def test_a_send_to_a_person_who_charges_stars_fails_with_paid_messages_required(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, person, headers):
        person.requires = "paid_messages"
        person.paid_stars = 250
        message_id = await _send_text(http, headers, "hello?")
        await drain(make_worker(services, 1))
        row = await message_row(services, message_id)
        assert (row.status, row.error_code) == ("failed", "paid_messages_required")
        assert "ALLOW_PAYMENT_REQUIRED_250" in (row.error_detail or "")


# --- Telethon's errors ------------------------------------------------------------------------


def _rpc_error(code: int, message: str) -> Exception:
    """The exception Telethon raises for Telegram's rpc_error(code, message)."""
    error: Exception = errors.rpc_message_to_error(RpcError(code, message), None)
    return error


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (403, "PRIVACY_PREMIUM_REQUIRED", "premium_required"),
        (403, "ALLOW_PAYMENT_REQUIRED_250", "paid_messages_required"),
        (400, "ALLOW_PAYMENT_REQUIRED", "paid_messages_required"),
        (400, "PAYMENT_REQUIRED", "paid_messages_required"),
    ],
)
def test_premium_and_payment_errors_get_their_stable_codes(
    code: int, message: str, expected: str
) -> None:
    mapped = to_port_error(_rpc_error(code, message))
    assert isinstance(mapped, port.RecipientError) and mapped.code == expected


def test_an_unrelated_403_is_still_a_rejected_message() -> None:
    mapped = to_port_error(_rpc_error(403, "PREMIUM_ACCOUNT_REQUIRED"))
    assert isinstance(mapped, port.MessageRejected)
