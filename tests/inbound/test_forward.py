"""Ordinary messages of registered people: the hot path of the inbound writer (store.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import col

from app.instances import sync_instances
from app.models import Event, InboundMessage, Recipient
from app.services import Services
from app.telegram.port import IncomingMessage, Sender
from inbound.processor import InboundProcessor


def message(message_id: int, text: str, first_name: str = "Ana") -> IncomingMessage:
    return IncomingMessage(
        message_id=message_id,
        date=datetime.now(UTC),
        sender=Sender(user_id=5005, access_hash=9, phone="34612345678", first_name=first_name),
        text=text,
    )


async def test_an_ordinary_message_is_stored_once_with_one_event_and_fresh_names(
    services: Services,
) -> None:
    async with services.database.read() as session, session.begin():
        await sync_instances(session, services.settings, services.clock())
    processor = InboundProcessor(
        1,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
    )
    await processor(message(1, "Hola"))  # registers (the dialogue)
    update = message(2, "Where is my parcel?", first_name="Ana María")
    await processor(update)
    await processor(update)  # a replay after catch-up
    async with services.database.read() as session:
        forwarded = list(
            await session.scalars(
                select(InboundMessage).where(col(InboundMessage.handling) == "forwarded")
            )
        )
        received = await session.scalar(
            select(func.count()).select_from(Event).where(col(Event.type) == "message.received")
        )
        recipient = await session.scalar(select(Recipient))
    assert [m.text for m in forwarded] == ["Where is my parcel?"]
    assert received == 1
    assert recipient is not None and recipient.first_name == "Ana María"


async def test_a_greeting_from_a_registered_person_still_gets_the_dialogue(
    services: Services,
) -> None:
    async with services.database.read() as session, session.begin():
        await sync_instances(session, services.settings, services.clock())
    processor = InboundProcessor(
        1,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
    )
    await processor(message(1, "Hi"))
    await processor(message(2, "Hi"))  # already registered: a reply, not a forwarded message
    async with services.database.read() as session:
        handling = list(await session.scalars(select(col(InboundMessage.handling))))
    assert handling == ["registration", "registration"]
