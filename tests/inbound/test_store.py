"""The one inbound writer (inbound/store.py): a batch of messages in one unit of work ends
exactly as the same messages handled one at a time, the dialogue included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from app.instances import sync_instances
from app.models import Event, InboundMessage, Message, Recipient
from app.services import Services
from app.telegram.port import IncomingMessage, Sender, SharedContact
from inbound.processor import InboundProcessor

ANA = Sender(user_id=5005, access_hash=9, phone="34612345678", first_name="Ana")
BEA = Sender(user_id=6006, access_hash=8, phone="34612345678", first_name="Bea")  # Ana's SIM
CARL = Sender(user_id=7007, access_hash=7, phone=None, first_name="Carl")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    sandbox = {"backend": "sandbox"}
    return {"instances": [{"number": 1, **sandbox}, {"number": 2, **sandbox}]}


def msg(message_id: int, sender: Sender, text: str = "", **fields: Any) -> IncomingMessage:
    when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    return IncomingMessage(message_id=message_id, date=when, sender=sender, text=text, **fields)


def processor(services: Services, instance: int) -> InboundProcessor:
    return InboundProcessor(
        instance,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
        services.stamps,
    )


async def outcome(services: Services, instance: int) -> dict[str, Any]:
    """What the messages left behind, without ids and stamps."""
    async with services.database.read() as session:
        inbound = await session.scalars(
            select(InboundMessage)
            .where(InboundMessage.instance == instance)
            .order_by(InboundMessage.telegram_message_id)
        )
        people = await session.scalars(
            select(Recipient).where(Recipient.instance == instance).order_by(Recipient.user_id)
        )
        replies = await session.scalars(
            select(Message).where(Message.instance == instance).order_by(Message.created_at)
        )
        events = await session.scalars(
            select(Event).where(Event.instance == instance).order_by(Event.seq)
        )
        return {
            "inbound": [
                (m.telegram_message_id, m.handling, m.number, m.media_kind) for m in inbound
            ],
            "people": [
                (p.user_id, p.status, p.number, p.language, p.first_name, p.last_hint_at)
                for p in people
            ],
            "replies": [(m.recipient_user_id, m.text) for m in replies],
            "events": [_event(e) for e in events],
        }


def _event(row: Event) -> tuple[Any, ...]:
    payload = orjson.loads(row.payload)
    data = payload["data"]
    data.pop("id", None)  # the inbound message's id: new each time
    return (row.type, row.number, payload["top"], data)


async def same_one_by_one_and_batched(
    services: Services, messages: list[IncomingMessage]
) -> dict[str, Any]:
    async with services.database.write() as session:
        await sync_instances(session, services.settings, services.clock())
    one_by_one = processor(services, 1)
    for message in messages:
        await one_by_one(message)
    await processor(services, 2)(messages)
    first, second = await outcome(services, 1), await outcome(services, 2)
    for event in second["events"]:
        if "instance" in event[3]:
            event[3]["instance"] = 1  # recipient events name their instance
    assert second == first
    return first


async def test_a_greeting_then_a_message_in_one_batch(services: Services) -> None:
    got = await same_one_by_one_and_batched(
        services, [msg(1, ANA, "Hi"), msg(2, ANA, "hello"), msg(2, ANA, "hello")]
    )
    assert [m[1] for m in got["inbound"]] == ["registration", "forwarded"]
    assert [e[0] for e in got["events"]] == ["recipient.registered", "message.received"]


async def test_a_reused_sim_in_one_batch_ends_the_older_registration(
    services: Services,
) -> None:
    got = await same_one_by_one_and_batched(
        services,
        [msg(1, ANA, "Hi"), msg(2, ANA, "one"), msg(3, BEA, "Hola"), msg(4, ANA, "two")],
    )
    handling = [m[1] for m in got["inbound"]]
    assert handling == ["registration", "forwarded", "registration", "ignored"]
    assert [(p[0], p[1]) for p in got["people"]] == [(5005, "unregistered"), (6006, "registered")]


async def test_stop_then_write_then_greet_again_with_a_contact_card(services: Services) -> None:
    card = SharedContact(phone="+49 151 0000", user_id=CARL.user_id)
    got = await same_one_by_one_and_batched(
        services,
        [
            msg(1, ANA, "Hi"),
            msg(2, ANA, "STOP"),
            msg(3, ANA, "still there?"),
            msg(4, ANA, "again?"),
            msg(5, CARL, "Привіт"),
            msg(6, CARL, contact=card),
            msg(7, CARL, "thanks", reply_to_message_id=99),
            msg(8, ANA, "Hallo"),
        ],
    )
    assert [m[1] for m in got["inbound"]] == [
        "registration",
        "registration",
        "ignored",
        "ignored",
        "registration",
        "registration",
        "forwarded",
        "registration",
    ]
    assert got["inbound"][5][3] == "contact"
    assert [e[0] for e in got["events"]] == [
        "recipient.registered",
        "recipient.unregistered",
        "recipient.registered",
        "message.received",
        "recipient.registered",
    ]
    assert len(got["replies"]) == 6  # registered, stopped, one hint, share, registered, again
    assert [(p[1], p[3]) for p in got["people"]] == [("registered", "de"), ("registered", "uk")]


class TestFull:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"limits": {"max_recipients": 1}}

    async def test_one_batch_registers_no_more_than_the_gateway_takes(
        self, services: Services
    ) -> None:
        async with services.database.write() as session:
            await sync_instances(session, services.settings, services.clock())
        await processor(services, 1)(
            [msg(1, ANA, "Hi"), msg(2, BEA, "Hallo"), msg(3, ANA, "STOP"), msg(4, BEA, "Hallo")]
        )
        got = await outcome(services, 1)
        assert [(p[0], p[1]) for p in got["people"]] == [
            (5005, "unregistered"),
            (6006, "registered"),
        ]
        assert "Leider" in got["replies"][1][1]  # German: sorry, no new registrations
