"""The processor's handling of the port's group messages, edits, deletions and reactions, fed
directly (as any backend hands them over): megagroups number their messages themselves, a
reaction list that drops someone reports their withdrawal, and nothing is reported twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from app.instances import sync_instances
from app.models import Event, InboundMessage
from app.services import Services
from app.telegram.port import (
    GroupRef,
    IncomingMessage,
    MessageEdited,
    MessagesDeleted,
    ReactionsListed,
    Sender,
)
from inbound.processor import InboundProcessor

WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANA = Sender(user_id=501, access_hash=1, phone="34611111111", first_name="Ana")
SAM = Sender(user_id=502, access_hash=2, phone=None, first_name="Sam")
MEGA = GroupRef(chat_id=7001, title="Riders", access_hash=9, is_channel=True)
BASIC = GroupRef(chat_id=7002, title="Ops")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Both groups allowed: anyone's messages there are forwarded.
    return {"instances": [{"number": 1, "backend": "sandbox", "allowed_groups": [7001, 7002]}]}


async def _processor(services: Services) -> InboundProcessor:
    async with services.database.write() as session:
        await sync_instances(session, services.settings, services.clock())
    return InboundProcessor(
        1, services.database, services.settings, services.wakeup, services.clock
    )


def _message(message_id: int, text: str, group: GroupRef | None, sender: Sender = SAM) -> Any:
    return IncomingMessage(message_id=message_id, date=WHEN, sender=sender, text=text, group=group)


async def _events(services: Services, type_: str) -> list[dict[str, Any]]:
    async with services.database.read() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == type_).order_by(Event.seq)  # type: ignore[arg-type]
        )
        return [orjson.loads(r.payload)["data"] for r in rows]


async def test_a_megagroup_message_with_the_id_of_a_basic_group_message_is_kept_apart(
    services: Services,
) -> None:
    processor = await _processor(services)
    await processor([_message(10, "in ops", BASIC), _message(10, "in riders", MEGA)])
    async with services.database.read() as session:
        rows = list(await session.scalars(select(InboundMessage)))
    assert sorted((r.channel_id, r.text) for r in rows) == [(0, "in ops"), (7001, "in riders")]
    await processor([MessageEdited(10, WHEN, SAM.user_id, "riders, edited", group=MEGA)])
    [edited] = await _events(services, "message.edited")
    assert edited["text"] == "riders, edited" and edited["group"]["id"] == 7001


async def test_a_megagroup_deletion_names_its_channel_and_leaves_the_basic_group_alone(
    services: Services,
) -> None:
    processor = await _processor(services)
    await processor([_message(10, "in ops", BASIC), _message(10, "in riders", MEGA)])
    await processor([MessagesDeleted((10,), group=MEGA)])
    [deleted] = await _events(services, "message.deleted")
    assert deleted["group"] == {"id": 7001, "title": "Riders"}
    async with services.database.read() as session:
        rows = {r.channel_id: r.deleted_at for r in await session.scalars(select(InboundMessage))}
    assert rows[0] is None and rows[7001] is not None


async def test_someone_missing_from_a_reaction_list_took_their_reaction_back(
    services: Services,
) -> None:
    processor = await _processor(services)
    await processor([_message(10, "vote", MEGA, ANA)])
    both = ((ANA.user_id, ("👍",)), (SAM.user_id, ("🔥", "👍")))
    await processor([ReactionsListed(10, both, WHEN, MEGA)])
    await processor([ReactionsListed(10, both, WHEN, MEGA)])  # offered again: no change
    await processor([ReactionsListed(10, ((SAM.user_id, ("🔥", "👍")),), WHEN, MEGA)])
    reactions = [
        (d["sender"]["user_id"], d["emojis"]) for d in await _events(services, "message.reaction")
    ]
    assert reactions == [
        (ANA.user_id, ["👍"]),
        (SAM.user_id, ["🔥", "👍"]),
        (ANA.user_id, []),
    ]


async def test_an_older_edit_offered_after_a_newer_one_is_not_reported(
    services: Services,
) -> None:
    processor = await _processor(services)
    await processor([_message(10, "v1", BASIC)])
    later = WHEN.replace(hour=10)
    await processor([MessageEdited(10, later, SAM.user_id, "v3", group=BASIC)])
    await processor([MessageEdited(10, WHEN, SAM.user_id, "v2", group=BASIC)])
    assert [d["text"] for d in await _events(services, "message.edited")] == ["v3"]


async def test_a_deletion_of_unknown_messages_reports_nothing(services: Services) -> None:
    await (await _processor(services))([MessagesDeleted((404, 405))])
    assert await _events(services, "message.deleted") == []
