"""Group messages, edits, deletions and reactions over the Telethon backend: real Telethon, the
fake Telegram pushing the real TL updates (tests/telegram/fake_mtproto/people.py), the gateway's
pipeline and database."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from app.cluster.ownership import make_worker
from app.models import Event
from app.services import Services
from tests.conftest import ADMIN, Clock, drain
from tests.telegram.fake_mtproto import FakeTelegram, people
from tests.telegram.test_telethon_backend import ready_gateway
from tests.waiting import eventually

STRANGER_PHONE = "34698765432"


async def _events(services: Services, type_: str) -> list[tuple[dict[str, Any], str | None]]:
    async with services.database.read() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == type_).order_by(Event.seq)  # type: ignore[arg-type]
        )
        return [(orjson.loads(r.payload)["data"], r.conversation) for r in rows]


async def _until(services: Services, type_: str, count: int) -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]]:
        events = [data for data, _ in await _events(services, type_)]
        return events if len(events) >= count else []

    return await eventually(found, f"{count} {type_} event(s)")


async def _group_received(services: Services, count: int) -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]]:
        events = [d for d, _ in await _events(services, "message.received") if d["group"]]
        return events if len(events) >= count else []

    return await eventually(found, f"{count} group message(s)")


async def test_a_group_reply_to_the_gateways_message_reaches_the_event_log(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        chat_id = fake.add_group("Riders", person, [account])
        response = await http.post(
            "/v3/telegram/group/text/message/1",
            json={"group_name": "Riders", "group_admin": person.phone, "message": "Route A"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        await drain(make_worker(services, 1))
        [ours] = fake.sent_in_group(chat_id)
        people.post_in_group(fake, person, account, chat_id, "ok", reply_to=ours.message_id)
        [data] = await _group_received(services, 1)
        assert data["group"] == {"id": chat_id, "title": "Riders"}
        assert data["reply_to"] == {
            "telegram_message_id": ours.message_id,
            "message_id": response.json()["id"],
        }
        assert data["mentioned"] is True
        [(_, conversation)] = [
            e for e in await _events(services, "message.received") if e[0]["group"]
        ]
        assert conversation == f"1:g:{chat_id}"


async def test_a_strangers_message_is_dropped_until_the_group_is_allowed(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, _h):
        stranger = fake.add_person(STRANGER_PHONE, first_name="Sam")
        chat_id = fake.add_group("Riders", person, [account, stranger])
        people.post_in_group(fake, stranger, account, chat_id, "dropped")
        # A registered person's message after it shows that the stranger's was handled.
        people.post_in_group(fake, person, account, chat_id, "marker", mentioned=True)
        first = await _group_received(services, 1)
        assert [d["text"] for d in first] == ["marker"] and first[0]["mentioned"] is True
        answer = await http.put(f"/admin/instances/1/groups/{chat_id}", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        people.post_in_group(fake, stranger, account, chat_id, "now forwarded")
        both = await _group_received(services, 2)
        assert [d["text"] for d in both] == ["marker", "now forwarded"]
        assert both[1]["sender"]["number"] is None  # not registered
        assert not [r for r in fake.sent_in_group(chat_id)]  # never answered in the group


async def test_an_edit_a_reaction_and_a_deletion_become_events_once(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        message_id = fake.person_sends(person, account, "order 12")
        await _until(services, "message.received", 1)
        edit = people.edit(fake, person, account, message_id, "order 13")
        [edited] = await _until(services, "message.edited", 1)
        assert (edited["text"], edited["direction"]) == ("order 13", "inbound")
        assert edited["telegram_message_id"] == message_id
        # A reaction in a private chat: an edit whose edit_date did not move.
        people.react_privately(fake, person, account, message_id, "👍")
        [reaction] = await _until(services, "message.reaction", 1)
        assert reaction["emojis"] == ["👍"] and reaction["id"] == edited["id"]
        people.react_privately(fake, person, account, message_id, None)
        taken_back = await _until(services, "message.reaction", 2)
        assert taken_back[1]["emojis"] == []
        deletion = people.delete(fake, account, [message_id])
        [deleted] = await _until(services, "message.deleted", 1)
        assert (deleted["id"], deleted["direction"]) == (edited["id"], "inbound")
        # The same updates again (as after a restart that had not saved its position), then a
        # marker message: nothing more is reported.
        people.replay(fake, account, edit)
        people.replay(fake, account, deletion)
        marker = fake.person_sends(person, account, "marker")
        received = await _until(services, "message.received", 2)
        assert received[-1]["telegram_message_id"] == marker
        assert len(await _events(services, "message.edited")) == 1
        assert len(await _events(services, "message.reaction")) == 2
        assert len(await _events(services, "message.deleted")) == 1
        assert edited["edited_at"] is not None


async def test_a_group_reaction_and_its_withdrawal_become_events(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        chat_id = fake.add_group("Riders", person, [account])
        message_id = people.post_in_group(fake, person, account, chat_id, "vote")
        await _group_received(services, 1)
        people.react_in_group(fake, person, account, chat_id, message_id, "🔥")
        [first] = await _until(services, "message.reaction", 1)
        assert first["emojis"] == ["🔥"] and first["group"] == {"id": chat_id, "title": "Riders"}
        people.react_in_group(fake, person, account, chat_id, message_id, None)
        both = await _until(services, "message.reaction", 2)
        assert both[1]["emojis"] == []


async def test_a_megagroups_message_edit_reaction_and_deletion_become_events(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        channel_id = people.add_megagroup(fake, "Riders HQ", [person, account])
        message_id = people.post_in_megagroup(fake, person, account, channel_id, "standup?")
        [received] = await _group_received(services, 1)
        assert received["group"] == {"id": channel_id, "title": "Riders HQ"}
        people.edit_in_megagroup(fake, account, channel_id, message_id, "standup at 10?")
        [edited] = await _until(services, "message.edited", 1)
        assert (edited["id"], edited["text"]) == (received["id"], "standup at 10?")
        people.react_in_megagroup(fake, person, account, channel_id, message_id, "👍")
        [reaction] = await _until(services, "message.reaction", 1)
        assert (reaction["id"], reaction["emojis"]) == (received["id"], ["👍"])
        people.delete_in_megagroup(fake, account, channel_id, [message_id])
        [deleted] = await _until(services, "message.deleted", 1)
        assert deleted["id"] == received["id"]
        assert deleted["group"] == {"id": channel_id, "title": "Riders HQ"}


async def test_a_basic_groups_edit_and_deletion_name_the_group(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        chat_id = fake.add_group("Riders", person, [account])
        message_id = people.post_in_group(fake, person, account, chat_id, "v1")
        await _group_received(services, 1)
        people.edit(fake, person, account, message_id, "v2")
        [edited] = await _until(services, "message.edited", 1)
        assert edited["group"] == {"id": chat_id, "title": "Riders"}
        # Telegram names only the ids: the group comes from the stored message.
        people.delete(fake, account, [message_id])
        [deleted] = await _until(services, "message.deleted", 1)
        assert deleted["group"] == {"id": chat_id, "title": "Riders"}
        [(_, conversation)] = await _events(services, "message.deleted")
        assert conversation == f"1:g:{chat_id}"
